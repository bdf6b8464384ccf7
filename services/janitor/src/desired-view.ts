import { subjects, type DomainEvent, type Stored } from "@oneshot/proto";
import type { EventStore, Logger } from "@oneshot/runtime";
import { evolve, initialDesired, type DesiredState } from "./core/desired-state.js";
import type { HostSeen } from "./core/find-lost-hosts.js";

/**
 * The desired state, rebuilt from the whole event log and kept current: replay EVENTS up to
 * its last sequence at start, then follow from the next one. The janitor acts only once
 * `caughtUp`: a half-replayed log would make every running VM look unknown.
 */
export class DesiredView {
  readonly state: DesiredState = initialDesired();
  /**
   * When this janitor read each host's latest HostRegistered and HostLost, by its own clock:
   * liveness and the fence lease are measured on the receiving side, never by a time a host
   * wrote (its clock may be off by hours). Replayed events count as read at start.
   */
  readonly seen = new Map<string, HostSeen>();
  caughtUp = false;
  private stopFn: (() => Promise<void>) | undefined;

  constructor(private readonly store: EventStore, private readonly o: { log: Logger; onFatal: (e: unknown) => void; clock: () => number }) {}

  async start(): Promise<{ count: number; ms: number; eventsPerSec: number }> {
    const until = await this.store.lastStreamSeq();
    const onDecodeError = (e: Error) => this.o.log.error({ err: e }, "undecodable event skipped");
    const report = until > 0
      ? await this.store.replay(subjects.allEvents, (e) => void this.apply(e), { untilSeq: until, onDecodeError })
      : { count: 0, ms: 0, eventsPerSec: 0 };
    this.stopFn = await this.store.follow(subjects.allEvents, (e) => void this.apply(e), {
      startSeq: until + 1, onDecodeError, onError: this.o.onFatal,
    });
    this.caughtUp = true;
    return report;
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
  }
}
