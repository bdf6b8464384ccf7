import type { DomainEvent, JobSource, Stored } from "@oneshot/proto";

/** What the reconciler knows of a job from the log. */
export interface JobView {
  jobId: string;
  source?: JobSource;
  state: "queued" | "started" | "ended" | "ignored";
  /** When JobQueued was stored (ms), and JobStarted. */
  queuedAt?: number;
  startedAt?: number;
  /** Last sequence of `evt.job.<id>`: the expected one for the next append. */
  lastSeq: number;
  /** Correlation id of the job's chain (its first event's). */
  correlationId: string;
}

/** A VmIdle the provider has not answered yet: no VmRetired, no JobStarted on the VM, VM alive. */
export interface IdleView {
  hostId: string;
  vmId: string;
  bootedForJobId: string;
  runnerName: string;
  reason: string;
  candidateJobIds: string[];
  at: number;
  correlationId: string;
  eventId: string;
}

export interface ReconcileState {
  jobs: Map<string, JobView>;
  /** Keyed `<hostId>/<vmId>`. */
  idles: Map<string, IdleView>;
  /** guid → when we last asked for its redelivery (ms), from DeliveryRedelivered. */
  redelivered: Map<string, number>;
  /** Stream sequence read so far. */
  readSeq: number;
}

export const initialState = (): ReconcileState => ({ jobs: new Map(), idles: new Map(), redelivered: new Map(), readSeq: 0 });

export const idleKey = (hostId: string, vmId: string) => `${hostId}/${vmId}`;

/** Where a job id comes from when its JobQueued was never seen (`gh-`, `gl-`, else local). */
export const providerOfJobId = (jobId: string) => (jobId.startsWith("gh-") ? "github" : jobId.startsWith("gl-") ? "gitlab" : "local");

/**
 * Folds one stored event into the state (in place: the log is long, copies would cost).
 * Pure apart from that: time comes from the event's `occurredAt`.
 */
export function evolve(s: ReconcileState, e: Stored<DomainEvent>): ReconcileState {
  s.readSeq = Math.max(s.readSeq, e.seq);
  const at = Date.parse(e.occurredAt);
  switch (e.type) {
    case "JobQueued":
    case "JobIgnored": {
      const j = job(s, e.data.jobId, e);
      j.source ??= e.data.source;
      if (e.type === "JobIgnored") j.state = "ignored";
      else if (j.state === "queued") j.queuedAt ??= at;
      break;
    }
    case "JobStarted": {
      const j = job(s, e.data.jobId, e);
      if (j.state === "queued") {
        j.state = "started";
        j.startedAt = at;
      }
      if (e.data.vmId) {
        for (const [k, idle] of s.idles) {
          if (idle.vmId === e.data.vmId && (!e.data.hostId || e.data.hostId === idle.hostId)) s.idles.delete(k);
        }
      }
      break;
    }
    case "JobCompleted":
    case "JobCancelled":
    case "JobFailed": {
      const j = job(s, e.data.jobId, e);
      if (j.state !== "ignored") j.state = "ended";
      break;
    }
    case "JobScheduled":
    case "JobUnschedulable":
    case "JobRequeued":
    case "JobRebound":
      if (e.subject.startsWith("evt.job.")) job(s, e.data.jobId, e);
      break;
    case "VmIdle":
      s.idles.set(idleKey(e.data.hostId, e.data.vmId), {
        hostId: e.data.hostId,
        vmId: e.data.vmId,
        bootedForJobId: e.data.bootedForJobId,
        runnerName: e.data.runnerName,
        reason: e.data.reason,
        candidateJobIds: e.data.candidateJobIds,
        at,
        correlationId: e.correlationId,
        eventId: e.id,
      });
      break;
    case "VmRetired":
    case "VmVanished":
    case "VmBootFailed":
    case "VmExited":
    case "VmDestroyed":
      s.idles.delete(idleKey(e.data.hostId, e.data.vmId));
      break;
    case "HostLost":
    case "HostDeregistered":
      for (const [k, idle] of s.idles) if (idle.hostId === e.data.hostId) s.idles.delete(k);
      break;
    case "DeliveryRedelivered":
      s.redelivered.set(e.data.guid, Math.max(s.redelivered.get(e.data.guid) ?? 0, at));
      break;
    default:
      break;
  }
  return s;
}

/** The job's view, created on its first event; its sequence follows every event on its subject. */
function job(s: ReconcileState, jobId: string, e: Stored<DomainEvent>): JobView {
  let j = s.jobs.get(jobId);
  if (!j) {
    j = { jobId, state: "queued", lastSeq: 0, correlationId: e.correlationId };
    s.jobs.set(jobId, j);
  }
  if (e.subject === `evt.job.${jobId}`) j.lastSeq = Math.max(j.lastSeq, e.seq);
  return j;
}

/** Forgets what can no longer matter: redelivery marks older than GitHub keeps deliveries (3 days). */
export function prune(s: ReconcileState, nowMs: number, keepMs = 3 * 24 * 3600_000): void {
  for (const [guid, at] of s.redelivered) if (nowMs - at > keepMs) s.redelivered.delete(guid);
}
