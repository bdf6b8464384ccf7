import { runnerNameFor, subjects, vmIdFor, type EventOf } from "@oneshot/proto";
import type { Allocation, JobView } from "./state.js";

export type DecisionEvent = EventOf<"JobScheduled" | "JobUnschedulable" | "JobRequeued" | "JobFailed" | "JobCompleted" | "JobRebound" | "VmIdle">;

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
    event: {
      type: "JobScheduled",
      data: { jobId, hostId, vmId: vmIdFor(jobId, attempt), spec, attempt, ...(job.script !== undefined ? { script: job.script } : {}) },
    },
    subject: subjects.host(hostId),
    msgId: `sched:${jobId}:${attempt}`,
    expectedLastSubjectSeq: hostSubjectSeq,
    correlationId: job.correlationId,
    causationId: job.causationId,
    occurredAt: now,
  };
}

/** The job's claim moves to a free VM that covers it, instead of a new boot. */
export function rebound(job: JobView, to: Allocation, fromVmId: string | undefined, reason: string, now: string): Decision {
  const data = { jobId: job.jobId, hostId: to.hostId, vmId: to.vmId, ...(fromVmId !== undefined ? { fromVmId } : {}), reason: clip(reason) };
  return onJob(job, { type: "JobRebound", data }, `rebind:${job.jobId}:${to.vmId}`, now);
}

/**
 * The VM has no purpose left: on its host's subject (what hostd and the reconciler follow),
 * expecting that subject's sequence so it is never written on a view older than a placement there.
 */
export function idle(a: Allocation, reason: string, candidateJobIds: string[], hostSubjectSeq: number, now: string): Decision {
  const { hostId, vmId } = a;
  return {
    event: {
      type: "VmIdle",
      data: {
        hostId,
        vmId,
        bootedForJobId: a.jobId,
        runnerName: runnerNameFor(hostId, vmId),
        reason: clip(reason),
        candidateJobIds: candidateJobIds.slice(0, 100),
      },
    },
    subject: subjects.host(hostId),
    msgId: `idle:${hostId}:${vmId}`,
    expectedLastSubjectSeq: hostSubjectSeq,
    // A VM's events carry no id of their own in the state: the VM names the thread.
    correlationId: `vm-${vmId}`,
    causationId: `vm-${vmId}`,
    occurredAt: now,
  };
}

/** A decision on the job's own subject. */
export function onJob(job: JobView, event: DecisionEvent, msgId: string, now: string): Decision {
  return {
    event,
    subject: subjects.job(job.jobId),
    msgId,
    expectedLastSubjectSeq: job.subjectSeq,
    correlationId: job.correlationId,
    causationId: job.causationId,
    occurredAt: now,
  };
}
