import type { Command } from "commander";
import { subjects } from "@oneshot/proto";
import { evolve, initialState, type SchedulerState } from "@oneshot/scheduler";
import { CliError, connect } from "../client/connection.js";
import { bar } from "../view/fleet.js";

/** The scheduler's own view (its pure `evolve`), folded from the log up to a moment. */
export function stateCommand(program: Command): void {
  program
    .command("state")
    .description("the scheduler's view of the cluster at a moment, rebuilt by replaying the log up to then")
    .requiredOption("--at <time>", "ISO time (e.g. 2026-11-28T10:00:00Z), or `now`")
    .option("--json", "one JSON object")
    .action(async (o: { at: string; json?: boolean }) => {
      const at = o.at === "now" ? new Date() : new Date(o.at);
      if (Number.isNaN(at.getTime())) throw new CliError(`--at ${JSON.stringify(o.at)}: expected an ISO time or \`now\``);
      const { store, close } = await connect({ readOnly: true });
      let state: SchedulerState = initialState();
      await store.replay(subjects.allEvents, (e) => {
        // Events are appended in time order by each writer; one past the moment ends the view.
        if (new Date(e.occurredAt) <= at) state = evolve(state, e);
      });
      await close();
      const hosts = [...state.hosts.values()];
      const jobs = [...state.jobs.values()];
      const pending = jobs.filter((j) => j.phase === "pending");
      const placed = jobs.filter((j) => j.phase === "placed");
      if (o.json) {
        process.stdout.write(`${JSON.stringify({
          at: at.toISOString(), lastSeq: state.lastSeq, hosts,
          pending: pending.map((j) => ({ jobId: j.jobId, org: j.org, spec: j.spec, attempt: j.attempt })),
          placed: placed.map((j) => ({ jobId: j.jobId, hostId: j.hostId, vmId: j.vmId, spec: j.spec })),
          finishedJobs: state.finished.size,
        })}\n`);
        return;
      }
      process.stdout.write(`scheduler state at ${at.toISOString()} (log up to seq ${state.lastSeq})\n`);
      for (const h of hosts) {
        const status = h.lost ? "lost" : h.deregistered ? "deregistered" : h.draining ? "draining" : h.cordoned ? "cordoned" : "ready";
        process.stdout.write(`  ${h.hostId.padEnd(22)} ${h.arch.padEnd(6)} ${status.padEnd(12)} cpu ${bar(h.used.vcpus, h.capacity.vcpus)}  mem ${bar(h.used.memMiB, h.capacity.memMiB)} MiB\n`);
      }
      process.stdout.write(`  pending ${pending.length}: ${pending.map((j) => j.jobId).join(" ") || "-"}\n`);
      process.stdout.write(`  placed  ${placed.length}: ${placed.map((j) => `${j.jobId}@${j.hostId}`).join(" ") || "-"}\n`);
    });
}
