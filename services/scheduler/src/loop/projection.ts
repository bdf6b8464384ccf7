import type { DomainEvent, Stored } from "@oneshot/proto";
import { evolve } from "../core/evolve.js";
import { initialState, type SchedulerState } from "../core/state.js";

/**
 * The scheduler's state, kept current from the log, and a way to wait until it has read up to
 * a given sequence. The state is only ever changed by events read back from the log, never by
 * this scheduler's own decisions: what it decides next always rests on what was stored.
 */
export class Projection {
  state: SchedulerState = initialState();
  /** Last stream sequence read, decodable or not. */
  readSeq = 0;
  private waiters: { seq: number; resolve: () => void }[] = [];
  private wake: (() => void) | undefined;

  apply(e: Stored<DomainEvent>): void {
    this.state = evolve(this.state, e);
    this.advance(e.seq);
  }

  /** A message that did not decode still counts as read. */
  advance(seq: number): void {
    if (seq <= this.readSeq) return;
    this.readSeq = seq;
    if (this.waiters.length) {
      const ready = this.waiters.filter((w) => w.seq <= seq);
      this.waiters = this.waiters.filter((w) => w.seq > seq);
      for (const w of ready) w.resolve();
    }
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Resolves once everything up to `seq` has been read. */
  reached(seq: number): Promise<void> {
    if (seq <= this.readSeq) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ seq, resolve }));
  }

  /** Resolves at the next event read after `seq` (at once if one already was). */
  changedSince(seq: number): Promise<void> {
    if (this.readSeq > seq) return Promise.resolve();
    return new Promise((resolve) => {
      const prev = this.wake;
      this.wake = () => {
        prev?.();
        resolve();
      };
    });
  }

  /** Wakes whoever waits for a change (at shutdown). */
  interrupt(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
    for (const w of this.waiters.splice(0)) w.resolve();
  }
}
