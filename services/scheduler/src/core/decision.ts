import { subjects, vmIdFor, type EventOf } from "@oneshot/proto";
import type { JobView } from "./state.js";

export type DecisionEvent = EventOf<"JobScheduled" | "JobUnschedulable" | "JobRequeued" | "JobFailed" | "JobCompleted">;

/**
 * An event the scheduler wants appended, with what makes the append safe:
 *  - `expectedLastSubjectSeq`: the subject's last sequence in the state the decision was made
 *    on. The loop appends decisions on one subject in order, each expecting the sequence the
 *    previous one got, so a batch stays valid only while nobody else wrote to that subject.
 *  - `msgId`: one fact per job transition; a second scheduler making the same decision (even
 *    on another host) is told `duplicate` and nothing is stored.
 */
export interface Decision {
  event: DecisionEvent;
  subject: string;
  msgId: string;
  expectedLastSubjectSeq: number;
  correlationId: string;
  causationId: string;
  occurredAt: string;
}

const MAX_REASON = 512;
export const clip = (s: string): string => (s.length <= MAX_REASON ? s : `${s.slice(0, MAX_REASON - 1)}…`);

export function scheduled(job: JobView, hostId: string, hostSubjectSeq: number, now: string): Decision {
  const { jobId, attempt, spec } = job;
  return {
    event: { type: "JobScheduled", data: { jobId, hostId, vmId: vmIdFor(jobId, attempt), spec, attempt, ...(job.script !== undefined ? { script: job.script } : {}) } },
    subject: subjects.host(hostId),
    msgId: `sched:${jobId}:${attempt}`,
    expectedLastSubjectSeq: hostSubjectSeq,
    correlationId: job.correlationId,
    causationId: job.causationId,
    occurredAt: now,
  };
}

/** A decision on the job's own subject. */
export function onJob(job: JobView, event: DecisionEvent, msgId: string, now: string): Decision {
  return {
    event, subject: subjects.job(job.jobId), msgId, expectedLastSubjectSeq: job.subjectSeq,
    correlationId: job.correlationId, causationId: job.causationId, occurredAt: now,
  };
}
