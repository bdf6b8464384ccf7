import type { DomainEvent, JobSource, Stored } from "@oneshot/proto";

/** What ingest needs to know of a job's own history to keep its state moving forward only. */
export interface JobHistory {
  /** Last sequence of `evt.job.<id>` (0 = nothing stored): the next append expects it. */
  lastSeq: number;
  queued: boolean;
  ignored: boolean;
  started: boolean;
  /** Completed, cancelled or failed: nothing more happens to it. */
  ended: boolean;
  source?: JobSource;
}

export const emptyHistory = (): JobHistory => ({ lastSeq: 0, queued: false, ignored: false, started: false, ended: false });

/** Nothing is known of the job yet: the delivery in hand is the first we store. */
export const isNew = (h: JobHistory) => !h.queued && !h.ignored && !h.started && !h.ended;

export function foldHistory(events: readonly Stored<DomainEvent>[], lastSeq: number): JobHistory {
  const h = emptyHistory();
  h.lastSeq = lastSeq;
  for (const e of events) {
    switch (e.type) {
      case "JobQueued": h.queued = true; h.source = e.data.source; break;
      case "JobIgnored": h.ignored = true; h.source ??= e.data.source; break;
      case "JobStarted": h.started = true; break;
      case "JobCompleted": case "JobCancelled": case "JobFailed": h.ended = true; break;
      default: break;
    }
  }
  return h;
}

/** The one event a delivery leads to, or why none (the note goes into the reply and the log). */
export type Decision = { append: DomainEvent; note: string } | { append?: undefined; note: string };
