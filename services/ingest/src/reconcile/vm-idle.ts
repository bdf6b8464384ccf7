import type { DomainEvent, JobSource, Provider } from "@oneshot/proto";
import { providerOfJobId, type IdleView, type JobView, type ReconcileState } from "./projection.js";
import { startedEvent } from "./job-answer.js";
import type { ApiProvider, ProviderJob, RetireOutcome } from "./types.js";

/** What to do about a pending VmIdle, before asking anything. */
export type IdlePlan =
  /** No API can say what the runner does (local job, provider not configured): retire now. */
  | { kind: "retire-now"; reason: string }
  /** Ask the provider about each candidate, then remove the runner's registration. */
  | { kind: "check"; provider: ApiProvider; source: JobSource; candidates: JobView[] }
  /** Nothing can be asked and nothing is safe to do (the booted-for job's source is unknown). */
  | { kind: "stuck"; reason: string };

/**
 * Pure. Candidates: the VmIdle's unstarted jobs of the same provider the log still has as
 * queued (one started or ended already ran elsewhere). The booted-for job is a candidate too
 * when it is still queued: its own runner may have taken it while its in_progress was lost.
 */
export function planIdle(idle: IdleView, s: ReconcileState, hasApi: (p: Provider) => boolean): IdlePlan {
  const bootedFor = s.jobs.get(idle.bootedForJobId);
  const provider = bootedFor?.source?.provider ?? providerOfJobId(idle.bootedForJobId);
  if (provider === "local") return { kind: "retire-now", reason: `local job ${idle.bootedForJobId}: no provider API to ask; ${idle.reason}` };
  if (!hasApi(provider)) {
    return {
      kind: "retire-now",
      reason: `${provider === "github" ? "no GitHub App" : "no GitLab API token"} configured: no API check was possible (and no runner can have been minted); ${idle.reason}`,
    };
  }
  if (!bootedFor?.source)
    return { kind: "stuck", reason: `the log has no source for ${idle.bootedForJobId}: cannot tell which ${provider} scope its runner is in` };
  const ids = [...new Set([...idle.candidateJobIds, idle.bootedForJobId])];
  const candidates = ids.map((id) => s.jobs.get(id)).filter((j): j is JobView => j !== undefined && j.state === "queued" && j.source?.provider === provider);
  return { kind: "check", provider, source: bootedFor.source, candidates };
}

/** Whether the provider's answer says this VM's runner took the job. */
export const ranOn = (a: ProviderJob, runnerName: string) => (a.status === "in_progress" || a.status === "completed") && a.runnerName === runnerName;

export type RetireDecision = { kind: "retired"; event: DomainEvent; msgId: string; correlationId: string; reason: string } | { kind: "busy"; reason: string };

/** The runner removal's outcome → VmRetired (removed, or already gone) or nothing (busy: look again next tick). */
export function decideRetire(idle: IdleView, outcome: RetireOutcome | { kind: "no-api"; detail: string }, checked: readonly string[]): RetireDecision {
  const asked = checked.length ? `; candidates ${checked.join(", ")} not on it` : "";
  const reason = `${outcome.detail}${outcome.kind === "no-api" ? "" : asked}; idle because: ${idle.reason}`.slice(0, 512);
  if (outcome.kind === "busy") return { kind: "busy", reason };
  return {
    kind: "retired",
    reason,
    msgId: `retired:${idle.hostId}:${idle.vmId}`,
    correlationId: idle.correlationId,
    event: { type: "VmRetired", data: { hostId: idle.hostId, vmId: idle.vmId, reason } },
  };
}

/**
 * The VM's runner took a candidate (in_progress, or already completed on it): JobStarted
 * naming the VM, so the scheduler knows its running job; an end is learned by the stale check.
 */
export function idleTookJob(
  job: JobView,
  a: ProviderJob,
  runnerName: string,
): { event: DomainEvent; msgId: string; expectedLastSubjectSeq: number; correlationId: string; reason: string } {
  const reason = `${a.call}: ${a.status} on ${runnerName}`.slice(0, 512);
  return {
    event: startedEvent(job.jobId, runnerName, reason),
    msgId: `reconcile-started:${job.jobId}`,
    expectedLastSubjectSeq: job.lastSeq,
    correlationId: job.correlationId,
    reason,
  };
}
