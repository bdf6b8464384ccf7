import type { DomainEvent, JobSource, Stored } from "@oneshot/proto";

/** What ingest needs to know of a job's own history to keep its state moving forward only. */
export interface JobHistory {
  lastSeq: number;
  queued: boolean;
  ignored: boolean;
  started: boolean;
  /** Completed, cancelled or failed: nothing more happens to it. */
  ended: boolean;
  source?: JobSource;
}

export function foldHistory(events: Stored<DomainEvent>[], lastSeq: number): JobHistory {
  const h: JobHistory = { lastSeq, queued: false, ignored: false, started: false, ended: false };
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

/** The one event a delivery leads to, or why none. */
export type Decision = { append: DomainEvent; note: string } | { append?: undefined; note: string };
