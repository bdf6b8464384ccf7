import type { Command } from "commander";
import { subjects } from "@oneshot/proto";
import { evolve, initialState, loadSchedulerSnapshot, schedulerSnapshotVersion, type SchedulerState } from "@oneshot/scheduler";
import { CliError, connect } from "../client/connection.js";
import { lastSeqStoredBy, snapshotLog, snapshotStore } from "../client/snapshots.js";
import { bar } from "../view/fleet.js";

/**
 * How long after the moment an event may have been stored and still count, by its own
 * occurredAt: a writer's clock behind the server's, an append retried after an outage. Events
 * stored later than this after `--at` are not read at all (the replay stops there).
 */
export const STATE_AT_SKEW_MS = 5 * 60_000;

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
      const { nats, store, close } = await connect({ readOnly: true });
      // The scheduler's own snapshots (the same fold): the newest whose log time is at or before
      // the moment holds only events that happened by then, so only the tail after it is read.
      const snaps = await snapshotStore(nats, "scheduler");
      const snap = snaps ? await loadSchedulerSnapshot(snaps, schedulerSnapshotVersion(await store.streamCreated()), snapshotLog(), at) : undefined;
      const last = await store.lastStreamSeq();
      const from = snap && snap.seq <= last ? snap : undefined;
      let state: SchedulerState = from?.state ?? initialState();
      const until = Math.max(from?.seq ?? 0, Math.min(last, await lastSeqStoredBy(nats, new Date(at.getTime() + STATE_AT_SKEW_MS))));
      const replay =
        until > (from?.seq ?? 0)
          ? await store.replay(
              subjects.allEvents,
              (e) => {
                // Writers' clocks differ a little: an event stored after one past the moment may still be before it.
                if (new Date(e.occurredAt) <= at) state = evolve(state, e);
              },
              { startSeq: (from?.seq ?? 0) + 1, untilSeq: until },
            )
          : { count: 0 };
      await close();
      const hosts = [...state.hosts.values()];
      const jobs = [...state.jobs.values()];
      const pending = jobs.filter((j) => j.phase === "pending");
      const placed = jobs.filter((j) => j.phase === "placed");
      if (o.json) {
        process.stdout.write(
          `${JSON.stringify({
            at: at.toISOString(),
            lastSeq: state.lastSeq,
            fromSnapshotSeq: from?.seq ?? null,
            eventsRead: replay.count,
            hosts,
            pending: pending.map((j) => ({ jobId: j.jobId, org: j.org, spec: j.spec, attempt: j.attempt })),
            placed: placed.map((j) => ({ jobId: j.jobId, hostId: j.hostId, vmId: j.vmId, spec: j.spec })),
            finishedJobs: state.finished.size,
          })}\n`,
        );
        return;
      }
      process.stdout.write(
        `scheduler state at ${at.toISOString()} (log up to seq ${state.lastSeq}${from ? `; from the snapshot at seq ${from.seq} + ${replay.count} events` : ""})\n`,
      );
      for (const h of hosts) {
        const status = h.lost ? "lost" : h.deregistered ? "deregistered" : h.draining ? "draining" : h.cordoned ? "cordoned" : "ready";
        process.stdout.write(
          `  ${h.hostId.padEnd(22)} ${h.arch.padEnd(6)} ${status.padEnd(12)} cpu ${bar(h.used.vcpus, h.capacity.vcpus)}  mem ${bar(h.used.memMiB, h.capacity.memMiB)} MiB\n`,
        );
      }
      process.stdout.write(`  pending ${pending.length}: ${pending.map((j) => j.jobId).join(" ") || "-"}\n`);
      process.stdout.write(`  placed  ${placed.length}: ${placed.map((j) => `${j.jobId}@${j.hostId}`).join(" ") || "-"}\n`);
    });
}
