import { parseRunnerName, type DomainEvent } from "@oneshot/proto";
import type { JobView } from "./projection.js";
import type { ProviderJob } from "./types.js";

/** An event to append to a job's subject, with what makes a repeat a no-op. */
export interface JobAppend {
  event: DomainEvent;
  msgId: string;
  expectedLastSubjectSeq: number;
  correlationId: string;
}

export type JobDecision = { kind: "started" | "completed" | "cancelled"; append: JobAppend; reason: string } | { kind: "none"; reason: string };

const cut = (s: string) => (s.length <= 512 ? s : `${s.slice(0, 509)}...`);

/**
 * What the provider's answer about a job means for the log. Pure. State only moves forward:
 * in_progress → JobStarted (reportedBy reconcile) unless the log already has a start or an
 * end; completed → JobCompleted, or JobCancelled when no runner ever took it; still queued,
 * or not found → nothing. The runner name names the VM that ran it (`oneshot-<hostId>-<vmId>`).
 */
export function decideJobAnswer(job: JobView, a: ProviderJob): JobDecision {
  const base = { expectedLastSubjectSeq: job.lastSeq, correlationId: job.correlationId };
  if (job.state === "ended" || job.state === "ignored") return { kind: "none", reason: `${a.call}: ${a.status}; the log has the job ${job.state} already` };
  switch (a.status) {
    case "queued":
      return { kind: "none", reason: `${a.call}: still ${a.detail}` };
    case "not_found":
      return { kind: "none", reason: `${a.call}: not found (404); nothing appended` };
    case "in_progress": {
      if (job.state === "started") return { kind: "none", reason: `${a.call}: in_progress; the log has it started` };
      const reason = cut(`${a.call}: in_progress on ${a.runnerName ?? "an unnamed runner"}`);
      return { kind: "started", reason, append: { ...base, msgId: `reconcile-started:${job.jobId}`, event: startedEvent(job.jobId, a.runnerName, reason) } };
    }
    case "completed": {
      if (!a.ranOnRunner && job.state === "queued" && a.conclusion === "cancelled") {
        const reason = cut(`${a.call}: completed (cancelled) before any runner took it`);
        return {
          kind: "cancelled",
          reason,
          append: { ...base, msgId: `reconcile-ended:${job.jobId}`, event: { type: "JobCancelled", data: { jobId: job.jobId, reason } } },
        };
      }
      const reason = cut(`${a.call}: completed (${a.conclusion})${a.runnerName ? ` on ${a.runnerName}` : ""}`);
      return {
        kind: "completed",
        reason,
        append: {
          ...base,
          msgId: `reconcile-ended:${job.jobId}`,
          event: { type: "JobCompleted", data: { jobId: job.jobId, conclusion: a.conclusion, exitCode: null, reportedBy: "reconcile", reason } },
        },
      };
    }
    default: {
      const never: never = a;
      throw new Error(`unhandled provider answer ${(never as { status: string }).status}`);
    }
  }
}

/** JobStarted as the reconciler learned it, naming the VM when the runner is one of ours. */
export function startedEvent(jobId: string, runnerName: string | undefined, reason: string): DomainEvent {
  const name = runnerName ? runnerName.slice(0, 256) : undefined;
  const vm = parseRunnerName(name);
  return {
    type: "JobStarted",
    data: {
      jobId,
      ...(name ? { runnerName: name } : {}),
      ...(vm?.hostId ? { hostId: vm.hostId } : {}),
      ...(vm ? { vmId: vm.vmId } : {}),
      reportedBy: "reconcile",
      reason,
    },
  };
}
