import type { EventOf } from "@oneshot/proto";
import { clip, onJob, rebound, type Decision } from "./decision.js";
import type { Allocation, JobView, Outcome } from "./state.js";

export interface Policy {
  /** Boot failures (and VMs that ended unused) of one job before it is failed instead of requeued. */
  maxAttempts: number;
  /** A VM with no running job this long after its boot is declared idle (VmIdle). */
  idleDeadlineMs: number;
  /** A local job whose VM vanished under it: run it again (until maxAttempts) or fail it. */
  vanishedPolicy: "requeue" | "fail";
}

/** A free VM that covers the job (the preferred one first), taken for this decision round. */
export type PickVm = (job: JobView, preferKey?: string) => Allocation | undefined;

/**
 * What a released job is owed: a provider job that lost its VM to another runner, or whose VM
 * ended unused, first takes a free VM that covers it (docs/runner-model.md, rule 2); else it
 * is requeued, or failed once its VMs failed `maxAttempts` times. A lost host's job is requeued
 * uncounted (the job is not to blame); a local job that ran is completed from its exit.
 */
export function followUp(job: JobView, outcome: Outcome, policy: Policy, now: string, pick: PickVm): Decision {
  const { jobId, attempt } = job;
  const fail = (why: string) =>
    onJob(job, { type: "JobFailed", data: { jobId, reason: clip(why), hostId: outcome.hostId, vmId: outcome.vmId } }, `failed:${jobId}:${attempt}`, now);
  const rebindOr = (why: string, preferKey?: string) => {
    const to = job.local ? undefined : pick(job, preferKey);
    return to ? rebound(job, to, outcome.vmId, why, now) : requeue(job, outcome.hostId, outcome.vmId, why, now);
  };
  switch (outcome.kind) {
    case "boot-failed": {
      const why = `${outcome.code}: ${outcome.reason}`;
      if (job.bootFailures >= policy.maxAttempts) return fail(`boot failed ${job.bootFailures} times; last on ${outcome.hostId}: ${why}`);
      return rebindOr(`boot failed: ${why}`);
    }
    case "vm-gone-unused":
      if (outcome.counts && job.bootFailures >= policy.maxAttempts) {
        return fail(`its VM ended unused ${job.bootFailures} times; last on ${outcome.hostId}: ${outcome.reason}`);
      }
      return rebindOr(outcome.reason);
    case "displaced":
      return rebindOr(`its VM ${outcome.vmId} on ${outcome.hostId} ran ${outcome.byJobId}`, outcome.inheritKey);
    case "vanished":
      if (policy.vanishedPolicy === "fail") return fail(outcome.reason);
      if (job.bootFailures >= policy.maxAttempts) return fail(`its VM ended without an exit ${job.bootFailures} times; last: ${outcome.reason}`);
      return requeue(job, outcome.hostId, outcome.vmId, outcome.reason, now);
    case "host-lost":
      return requeue(job, outcome.hostId, outcome.vmId, outcome.reason, now);
    case "destroyed": {
      const data: EventOf<"JobCompleted">["data"] = {
        jobId,
        conclusion: conclusionOf(outcome.exitCode, outcome.exitReason),
        exitCode: outcome.exitCode,
        reportedBy: "vm",
      };
      return onJob(job, { type: "JobCompleted", data }, `done:${jobId}`, now);
    }
    default: {
      const _never: never = outcome;
      return _never;
    }
  }
}

/** The scheduler's requeue never ends the VM's reservation: the VM may run another job, and frees at VmDestroyed. */
function requeue(job: JobView, fromHostId: string, vmId: string, reason: string, now: string): Decision {
  const next = job.attempt + 1;
  return onJob(
    job,
    { type: "JobRequeued", data: { jobId: job.jobId, fromHostId, vmId, reason: clip(reason), attempt: next, releasesVm: false } },
    `requeue:${job.jobId}:${next}`,
    now,
  );
}

/** `success` for exit 0, `timed_out` when hostd killed it at its timeout, else `failure`. */
export function conclusionOf(exitCode: number | null, exitReason: string | null): "success" | "failure" | "timed_out" {
  if (exitReason === "timeout") return "timed_out";
  return exitCode === 0 && exitReason === "exited" ? "success" : "failure";
}
