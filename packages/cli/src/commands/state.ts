import type { Command } from "commander";
import { subjects } from "@oneshot/proto";
import { CliError, connect } from "../client/connection.js";
import { applyToFleet, bar, emptyFleet } from "../view/fleet.js";

export function stateCommand(program: Command): void {
  program
    .command("state")
    .description("the cluster as it was at a moment, rebuilt by replaying the log up to then")
    .requiredOption("--at <time>", "ISO time (e.g. 2026-11-28T10:00:00Z)")
    .option("--json", "one JSON object")
    .action(async (o: { at: string; json?: boolean }) => {
      const at = new Date(o.at);
      if (Number.isNaN(at.getTime())) throw new CliError(`--at ${JSON.stringify(o.at)}: expected an ISO time`);
      const { store, close } = await connect();
      const fleet = emptyFleet();
      let lastSeq = 0;
      await store.replay(subjects.allEvents, (e) => {
        if (new Date(e.occurredAt) > at) return;
        lastSeq = e.seq;
        applyToFleet(fleet, e);
      });
      await close();
      const hosts = [...fleet.hosts.values()];
      const pending = [...fleet.jobs.values()].filter((j) => j.state === "queued");
      const running = [...fleet.jobs.values()].filter((j) => ["scheduled", "booting", "running", "exited"].includes(j.state));
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ at: at.toISOString(), lastSeq, hosts, pending, running })}\n`);
        return;
      }
      process.stdout.write(`state at ${at.toISOString()} (log up to seq ${lastSeq})\n`);
      for (const h of hosts) {
        process.stdout.write(`  ${h.hostId.padEnd(20)} ${h.status.padEnd(12)} cpu ${bar(h.used.vcpus, h.capacity.vcpus)} mem ${bar(h.used.memMiB, h.capacity.memMiB)}\n`);
      }
      process.stdout.write(`  pending ${pending.length}: ${pending.map((j) => j.jobId).join(" ") || "-"}\n`);
      process.stdout.write(`  placed  ${running.length}: ${running.map((j) => `${j.jobId}@${j.hostId}`).join(" ") || "-"}\n`);
    });
}
