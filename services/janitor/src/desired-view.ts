import { subjects, type DomainEvent, type Stored } from "@oneshot/proto";
import { loadSnapshot, SnapshotWriter, type EventStore, type Logger, type SnapshotPolicy, type SnapshotStore } from "@oneshot/runtime";
import { evolve, initialDesired, type DesiredState } from "./core/desired-state.js";
import type { HostSeen } from "./core/find-lost-hosts.js";
import { desiredSnapshotVersion, isDesiredSnapshot, seenOf, toSnapshot, type DesiredSnapshot } from "./desired-snapshots.js";

export interface ReplayReport {
  count: number;
  ms: number;
  eventsPerSec: number;
  /** The snapshot the start began from, or null for a full replay. */
  fromSnapshotSeq: number | null;
}

/**
 * The desired state, rebuilt from the event log and kept current: the newest snapshot this
 * code can read (if any), then EVENTS replayed up to its last sequence at start, then followed
 * from the next one. The janitor acts only once `caughtUp`: a half-replayed log would make
 * every running VM look unknown.
 */
export class DesiredView {
  state: DesiredState = initialDesired();
  /**
   * When this janitor read each host's latest HostRegistered and HostLost, by its own clock:
   * liveness and the fence lease are measured on the receiving side, never by a time a host
   * wrote (its clock may be off by hours). Replayed events (and a snapshot's) count as read at start.
   */
  seen = new Map<string, HostSeen>();
  caughtUp = false;
  private stopFn: (() => Promise<void>) | undefined;
  private writer: SnapshotWriter<DesiredSnapshot> | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly o: {
      log: Logger;
      onFatal: (e: unknown) => void;
      clock: () => number;
      /** Start from the newest readable snapshot and write new ones; without it, every start replays the whole log. */
      snapshots?: { store: SnapshotStore; policy: SnapshotPolicy };
    },
  ) {}

  async start(): Promise<ReplayReport> {
    const until = await this.store.lastStreamSeq();
    const onDecodeError = (e: Error) => this.o.log.error({ err: e }, "undecodable event skipped");
    const snaps = this.o.snapshots;
    const version = snaps ? desiredSnapshotVersion(await this.store.streamCreated()) : undefined;
    const snap = snaps && version && until > 0 ? await loadSnapshot(snaps.store, version, this.o.log, isDesiredSnapshot) : undefined;
    // A snapshot past the log's end is of another log (the stream was cut short): not this one's state.
    const from = snap && snap.seq <= until ? snap : undefined;
    if (from) {
      this.state = from.state.desired;
      this.seen = seenOf(from.state, this.o.clock());
    }
    const writer =
      snaps && version
        ? new SnapshotWriter<DesiredSnapshot>({
            store: snaps.store,
            version,
            policy: snaps.policy,
            clock: this.o.clock,
            log: this.o.log,
            ...(from ? { from: from.head } : {}),
          })
        : undefined;
    this.writer = writer;
    const replayed = (e: Stored<DomainEvent>) => {
      this.apply(e);
      writer?.see(e);
    };
    const start = (from?.seq ?? 0) + 1;
    const report =
      until >= start
        ? await this.store.replay(subjects.allEvents, replayed, { startSeq: start, untilSeq: until, onDecodeError })
        : { count: 0, ms: 0, eventsPerSec: 0 };
    // A long replay is worth keeping at once: the next start should not do it again.
    if (writer?.dueByCount(until)) void writer.write(this.snapshot(), until);
    this.stopFn = await this.store.follow(
      subjects.allEvents,
      (e) => {
        replayed(e);
        // Only when nothing of ours is folded in ahead of the log (an append not read back yet):
        // the snapshot at `seq` must hold exactly the events up to `seq`.
        if (writer && this.state.lastSeq <= e.seq) writer.maybeWrite(this.snapshot(), e.seq);
      },
      { startSeq: until + 1, onDecodeError, onError: this.o.onFatal },
    );
    this.caughtUp = true;
    return { count: report.count, ms: report.ms, eventsPerSec: report.eventsPerSec, fromSnapshotSeq: from?.seq ?? null };
  }

  /** What a snapshot holds (encoded at once, between two events). */
  snapshot(): DesiredSnapshot {
    return toSnapshot(this.state, this.seen);
  }

  /** Folds an event in: from the log, or one this janitor just appended (idempotent). */
  apply(e: Stored<DomainEvent>): void {
    evolve(this.state, e);
    if (e.type !== "HostRegistered" && e.type !== "HostLost") return;
    const h = this.seen.get(e.data.hostId) ?? {};
    const key = e.type === "HostRegistered" ? "registered" : "lost";
    if ((h[key]?.seq ?? 0) < e.seq) h[key] = { seq: e.seq, at: this.o.clock() };
    this.seen.set(e.data.hostId, h);
  }

  async stop(): Promise<void> {
    await this.stopFn?.();
    await this.writer?.idle();
  }
}
