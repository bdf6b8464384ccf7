import { subjects, type DomainEvent } from "@oneshot/proto";
import { loadSnapshot } from "@oneshot/runtime";
import type { Command } from "commander";
import { connect } from "../client/connection.js";
import { snapshotLog, snapshotStore } from "../client/snapshots.js";
import { applyToFleet, bar, emptyFleet, type Fleet } from "../view/fleet.js";
import { FLEET_SNAPSHOT_NAME, fleetSnapshotVersion, isFleet } from "../view/fleet-snapshot.js";

/**
 * The fleet now: the newest fleet snapshot this build can read (the janitor writes them,
 * JANITOR_FLEET_SNAPSHOTS) and the events after it; without one, the whole log.
 */
async function loadFleet(): Promise<Fleet> {
  const { nats, store, close } = await connect({ readOnly: true });
  const snaps = await snapshotStore(nats, FLEET_SNAPSHOT_NAME);
  const snap = snaps ? await loadSnapshot(snaps, fleetSnapshotVersion(await store.streamCreated()), snapshotLog(), isFleet) : undefined;
  const last = await store.lastStreamSeq();
  const from = snap && snap.seq <= last ? snap : undefined;
  const fleet = from?.state ?? emptyFleet();
  if (last > (from?.seq ?? 0)) {
    await store.replay(subjects.allEvents, (e) => void applyToFleet(fleet, e), {
      startSeq: (from?.seq ?? 0) + 1,
      untilSeq: last,
      onDecodeError: (err) => process.stderr.write(`skipping undecodable message: ${err.message}\n`),
    });
  }
  await close();
  return fleet;
}

export function jobsCommand(program: Command): void {
  program
    .command("jobs")
    .description("jobs and their state, rebuilt from the event log")
    .option("--all", "include ignored and finished jobs (those that ended in the last week; older ones: oneshot events --job <id>)")
    .option("--json", "one JSON object per line")
    .action(async (o: { all?: boolean; json?: boolean }) => {
      const rows = [...(await loadFleet()).jobs.values()].filter((j) => o.all || !["ignored", "completed", "cancelled", "failed"].includes(j.state));
      if (o.json) return rows.forEach((r) => process.stdout.write(`${JSON.stringify(r)}\n`));
      if (!rows.length) return void process.stdout.write(o.all ? "no jobs\n" : "no active jobs (use --all for finished ones)\n");
      process.stdout.write(`${"JOB".padEnd(28)} ${"STATE".padEnd(13)} ${"HOST".padEnd(16)} ${"VM".padEnd(11)} EXIT  REPO\n`);
      for (const j of rows) {
        process.stdout.write(
          `${j.jobId.padEnd(28)} ${j.state.padEnd(13)} ${(j.hostId ?? "-").padEnd(16)} ${(j.vmId ?? "-").padEnd(11)} ${String(j.exitCode ?? "-").padEnd(5)} ${j.repo}${j.reason ? `  (${j.reason})` : ""}\n`,
        );
      }
    });
}

export function hostsCommand(program: Command): void {
  const hosts = program.command("hosts").description("hosts with capacity bars; cordon, uncordon, drain");
  hosts
    .command("list", { isDefault: true })
    .description("list hosts")
    .option("--json", "one JSON object per line")
    .action(async (o: { json?: boolean }) => {
      const rows = [...(await loadFleet()).hosts.values()];
      if (o.json) return rows.forEach((r) => process.stdout.write(`${JSON.stringify(r)}\n`));
      if (!rows.length) return void process.stdout.write("no hosts registered\n");
      for (const h of rows) {
        process.stdout.write(
          `${h.hostId.padEnd(20)} ${h.arch.padEnd(6)} ${`${h.vmm}/${h.accel}${h.emulated ? "/emulated" : ""}`.padEnd(20)} ${h.status.padEnd(12)} ` +
            `cpu ${bar(h.used.vcpus, h.capacity.vcpus)}  mem ${bar(h.used.memMiB, h.capacity.memMiB)} MiB  vms ${h.vms}\n`,
        );
      }
    });
  const change = (name: "cordon" | "uncordon" | "drain", type: "HostCordoned" | "HostUncordoned" | "HostDrained", what: string) =>
    hosts
      .command(`${name} <hostId>`)
      .description(what)
      .option("--reason <text>", "why (kept in the audit log)", `${name} by ${process.env.USER ?? "operator"}`)
      .action(async (hostId: string, o: { reason: string }) => {
        const { store, close } = await connect();
        const event = { type, data: { hostId, reason: o.reason } } as DomainEvent;
        const r = await store.append(event, { correlationId: `cli-${name}-${Date.now()}` });
        await close();
        process.stdout.write(`${type} ${hostId} (seq ${r.seq})\n`);
      });
  change("cordon", "HostCordoned", "stop placing new jobs on a host");
  change("uncordon", "HostUncordoned", "allow placements on a host again");
  change("drain", "HostDrained", "no new jobs; running VMs finish; hostd deregisters when empty");
}
