import { jobEvents, type DomainEvent, type JobSource, type Stored } from "@oneshot/proto";
import type { z } from "zod";

/** What ingest needs to know of a job's own history to keep its state moving forward only. */
export interface JobHistory {
  /** Last sequence of `evt.job.<id>` (0 = nothing stored): the next append expects it. */
  lastSeq: number;
  queued: boolean;
  ignored: boolean;
  started: boolean;
  /** Completed, cancelled or failed: nothing more happens to it. */
  ended: boolean;
  /** It ended because it was cancelled before any runner took it (JobCancelled). */
  cancelled: boolean;
  source?: JobSource;
}

export const emptyHistory = (): JobHistory => ({ lastSeq: 0, queued: false, ignored: false, started: false, ended: false, cancelled: false });

/** Nothing is known of the job yet: the delivery in hand is the first we store. */
export const isNew = (h: JobHistory) => !h.queued && !h.ignored && !h.started && !h.ended;

type JobEvent = Extract<DomainEvent, { type: z.infer<(typeof jobEvents)[number]>["type"] }>;
const JOB_EVENT_TYPES: ReadonlySet<string> = new Set(jobEvents.map((s) => s.shape.type.value));
const isJobEvent = (e: DomainEvent): e is JobEvent => JOB_EVENT_TYPES.has(e.type);

/**
 * A job's own history (`evt.job.<id>`, upcast to the latest versions) → what ingest needs of it.
 * Pure. Every job event is named: a new one in proto does not compile here until someone says
 * whether it moves the job forward.
 */
export function foldHistory(events: readonly Stored<DomainEvent>[], lastSeq: number): JobHistory {
  const h = emptyHistory();
  h.lastSeq = lastSeq;
  for (const e of events) {
    if (!isJobEvent(e)) continue; // nothing else is stored on a job's subject
    switch (e.type) {
      case "JobQueued":
        h.queued = true;
        h.source = e.data.source;
        break;
      case "JobIgnored":
        h.ignored = true;
        h.source ??= e.data.source;
        break;
      // From a webhook or the reconciler (v2 `reportedBy`): either way a runner took it.
      case "JobStarted":
        h.started = true;
        break;
      // Said by the provider, the VM or the reconciler; cancelled; failed by the scheduler.
      case "JobCompleted":
      case "JobFailed":
        h.ended = true;
        break;
      case "JobCancelled":
        h.ended = h.cancelled = true;
        break;
      // Where the job runs is the scheduler's business: none of these moves its state for ingest.
      case "JobScheduled":
      case "JobUnschedulable":
      case "JobRequeued":
      case "JobRebound":
        break;
      default: {
        const unhandled: never = e;
        void unhandled;
      }
    }
  }
  return h;
}

/** The one event a delivery leads to, or why none (the note goes into the reply and the log). */
/**
 * The event a delivery leads to, or why none. `again`: after this append, decide once more on
 * the new history (a `completed` that names a runner we never saw start records the start
 * first: which VM ran the job is a fact the scheduler and the janitor need).
 */
export type Decision = { append: DomainEvent; note: string; again?: true } | { append?: undefined; note: string };
