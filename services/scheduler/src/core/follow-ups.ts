import type { EventOf } from "@oneshot/proto";
import { clip, onJob, type Decision } from "./decision.js";
import type { JobView, Outcome } from "./state.js";

export interface Policy {
  /** Boot failures of one job before it is failed instead of requeued. */
  maxAttempts: number;
}

/**
 * What a released job is owed, now that its VM is gone: a boot failure is requeued (or failed
 * once it has failed `maxAttempts` times), a lost host's job is requeued (the job is not to
 * blame, so it does not count as an attempt), a local job that ran is completed from its exit.
 */
export function followUp(job: JobView, outcome: Outcome, policy: Policy, now: string): Decision {
  const { jobId, attempt } = job;
  switch (outcome.kind) {
    case "boot-failed": {
      const why = `${outcome.code}: ${outcome.reason}`;
      if (job.bootFailures >= policy.maxAttempts) {
        const reason = clip(`boot failed ${job.bootFailures} times; last on ${outcome.hostId}: ${why}`);
        return onJob(job, { type: "JobFailed", data: { jobId, reason, hostId: outcome.hostId, vmId: outcome.vmId } }, `failed:${jobId}:${attempt}`, now);
      }
      return requeue(job, outcome.hostId, outcome.vmId, `boot failed: ${why}`, now);
    }
    case "host-lost":
      return requeue(job, outcome.hostId, outcome.vmId, outcome.reason, now);
    case "destroyed": {
      const data: EventOf<"JobCompleted">["data"] = {
        jobId, conclusion: conclusionOf(outcome.exitCode, outcome.exitReason), exitCode: outcome.exitCode, reportedBy: "vm",
      };
      return onJob(job, { type: "JobCompleted", data }, `done:${jobId}`, now);
    }
    default: {
      const _never: never = outcome;
      return _never;
    }
  }
}

function requeue(job: JobView, fromHostId: string, vmId: string, reason: string, now: string): Decision {
  const next = job.attempt + 1;
  return onJob(job, { type: "JobRequeued", data: { jobId: job.jobId, fromHostId, vmId, reason: clip(reason), attempt: next } }, `requeue:${job.jobId}:${next}`, now);
}

/** `success` for exit 0, `timed_out` when hostd killed it at its timeout, else `failure`. */
export function conclusionOf(exitCode: number | null, exitReason: string | null): "success" | "failure" | "timed_out" {
  if (exitReason === "timeout") return "timed_out";
  return exitCode === 0 && exitReason === "exited" ? "success" : "failure";
}
