import { subjects, type DomainEvent, type Stored } from "@oneshot/proto";
import type { EventStore, Logger } from "@oneshot/runtime";
import { evolve, initialDesired, type DesiredState } from "./core/desired-state.js";

/**
 * The desired state, rebuilt from the whole event log and kept current: replay EVENTS up to
 * its last sequence at start, then follow from the next one. The janitor acts only once
 * `caughtUp`: a half-replayed log would make every running VM look unknown.
 */
export class DesiredView {
  readonly state: DesiredState = initialDesired();
  caughtUp = false;
  private stopFn: (() => Promise<void>) | undefined;

  constructor(private readonly store: EventStore, private readonly o: { log: Logger; onFatal: (e: unknown) => void }) {}

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
  }

  async stop(): Promise<void> {
    await this.stopFn?.();
  }
}
