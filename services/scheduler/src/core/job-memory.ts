import type { Stored } from "@oneshot/proto";
import type { SchedulerState } from "./state.js";

/**
 * How long the scheduler remembers a job that ended (and a start it saw before the job's
 * JobQueued). What the memory is for: a JobQueued or JobStarted about the job that arrives
 * after its end must not queue it again or leave it "started early" for ever. Such late
 * deliveries come from GitHub (out of order, within seconds to minutes) and from
 * redeliveries (the reconciler, or a person, through the App's API, which keeps deliveries for
 * 3 days). Four days covers both. It is the second line of defence: ingest reads the job's own
 * history before it appends, and never stores a JobQueued on a job subject that has events.
 */
export const FINISHED_MEMORY_MS = 4 * 24 * 3600_000;

/** Forgetting runs every this many stream sequences: deterministic (the log decides), cheap. */
const FORGET_EVERY = 1024;

/** An event's time in ms (its occurredAt), the clock of everything the fold remembers. */
export const eventTimeMs = (e: Stored): number => Date.parse(e.occurredAt);

/**
 * Forgets ended jobs and early starts older than FINISHED_MEMORY_MS before `e`'s time. Both
 * maps are in insertion order, which is the log's order: the oldest are at the front, and
 * forgetting stops at the first one young enough (writers' clocks differ a little, so an entry
 * may be forgotten a little late, never early by more than that skew).
 */
export function forgetOldJobs(s: SchedulerState, e: Stored): void {
  if (e.seq % FORGET_EVERY !== 0) return;
  const before = eventTimeMs(e) - FINISHED_MEMORY_MS;
  if (!Number.isFinite(before)) return;
  for (const m of [s.finished, s.startedEarly]) {
    for (const [jobId, at] of m) {
      if (at >= before) break;
      m.delete(jobId);
    }
  }
}
