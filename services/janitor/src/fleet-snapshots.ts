import { FLEET_SNAPSHOT_NAME, applyToFleet, emptyFleet, fleetSnapshotVersion, isFleet, type Fleet } from "@oneshot/cli/read-models";
import { subjects } from "@oneshot/proto";
import { loadSnapshot, SnapshotStore, SnapshotWriter, type EventStore, type Logger, type SnapshotPolicy } from "@oneshot/runtime";
import type { KV } from "@nats-io/kv";

/**
 * Keeps the CLI's fleet read model (`oneshot jobs` / `hosts`: applyToFleet) current and writes
 * its snapshots (KV bucket `snapshots`, key `fleet.head`). The CLI cannot write them: its read
 * commands connect as the audit identity, which may not write KV. The janitor is the
 * long-running service that already follows the whole log; the janitor does not judge anything
 * by this model, it only keeps it for the CLI, so a failure here never stops the janitor.
 * Its own snapshot, its own tail: independent of the desired state's.
 */
export async function startFleetSnapshots(o: {
  store: EventStore;
  kv: KV;
  policy: SnapshotPolicy;
  log: Logger;
  clock: () => number;
  onFatal: (e: unknown) => void;
}): Promise<{ fleet: () => Fleet; stop: () => Promise<void> }> {
  const log = o.log.child({ component: "fleet-snapshots" });
  const snaps = new SnapshotStore(o.kv, FLEET_SNAPSHOT_NAME);
  const until = await o.store.lastStreamSeq();
  const version = fleetSnapshotVersion(await o.store.streamCreated());
  const snap = until > 0 ? await loadSnapshot(snaps, version, log, isFleet) : undefined;
  const from = snap && snap.seq <= until ? snap : undefined;
  const fleet = from?.state ?? emptyFleet();
  const writer = new SnapshotWriter<Fleet>({ store: snaps, version, policy: o.policy, clock: o.clock, log, ...(from ? { from: from.head } : {}) });
  const onDecodeError = (e: Error) => log.warn({ err: e }, "undecodable event skipped");
  const start = (from?.seq ?? 0) + 1;
  const report =
    until >= start
      ? await o.store.replay(
          subjects.allEvents,
          (e) => {
            applyToFleet(fleet, e);
            writer.see(e);
          },
          { startSeq: start, untilSeq: until, onDecodeError },
        )
      : { count: 0, ms: 0 };
  log.info({ events: report.count, ms: Math.round(report.ms), fromSnapshotSeq: from?.seq ?? null, jobs: fleet.jobs.size }, "fleet read model replayed");
  if (writer.dueByCount(until)) void writer.write(fleet, until);
  const stop = await o.store.follow(
    subjects.allEvents,
    (e) => {
      applyToFleet(fleet, e);
      writer.see(e);
      writer.maybeWrite(fleet, e.seq);
    },
    { startSeq: until + 1, onDecodeError, onError: o.onFatal },
  );
  return {
    fleet: () => fleet,
    stop: async () => {
      await stop();
      await writer.idle();
    },
  };
}
