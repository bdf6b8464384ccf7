import type { KV } from "@nats-io/kv";
import type { Logger } from "@oneshot/runtime";

/** The bucket of short-lived records of jobs that are not ours; created by `oneshot admin init`. */
export const FOREIGN_BUCKET = "ingest-foreign";
/** GitHub keeps a delivery redeliverable for 3 days: a record outlives every delivery of its job. */
export const FOREIGN_TTL_MS = 4 * 24 * 3600_000;

/** What is kept of a delivery for a job with no oneshot label: enough to answer "why did my job not run here?". */
export interface ForeignJob {
  provider: "github" | "gitlab";
  org: string;
  repo: string;
  /** Its runs-on labels, as stored in JobIgnored (capped). */
  labels: string[];
  reason: string;
  /** The delivery's action or status (queued, in_progress, …). */
  action: string;
  at: string;
}

/**
 * Deliveries for jobs that are not ours (every GitHub-hosted job of every installed
 * organisation) are counted and kept for a few days, not appended to the audit log for ever:
 * the log and every projection's start-up would otherwise grow with other people's work.
 * `INGEST_RECORD_FOREIGN_JOBS=true` stores them as JobIgnored events instead.
 */
export interface ForeignJobs {
  note(jobId: string, job: ForeignJob): Promise<void>;
}

/** The record in KV, one key per job (the latest delivery), expiring with the bucket's TTL. A failure is logged, never fatal. */
export function kvForeignJobs(kv: KV, log: Logger): ForeignJobs {
  return {
    note: (jobId, job) =>
      kv.put(jobId, JSON.stringify(job)).then(
        () => undefined,
        (e: unknown) => log.warn({ err: e, jobId }, "foreign job not recorded"),
      ),
  };
}
