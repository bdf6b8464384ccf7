import type { DomainEvent, JobSource, RunnerConfigRequest, Stored } from "@oneshot/proto";
import { foldHistory } from "../providers/shared/job-history.js";
import type { ProviderErrorCode } from "../providers/shared/provider-error.js";

type Code = ProviderErrorCode | "wrong-host" | "not-runnable";

export interface RequestFacts {
  /** The subject the request came on: its host id is what NATS permissions authenticate. */
  subject: string;
  request: RunnerConfigRequest["data"];
  /** `evt.host.<hostId>.vm.<vmId>`. */
  vmEvents: readonly Stored<DomainEvent>[];
  /** `evt.job.<jobId>`. */
  jobEvents: readonly Stored<DomainEvent>[];
  /** The public key of the host's latest HostRegistered, if any. */
  registeredKey: string | undefined;
  /** The scheduler's JobScheduled of this VM on the asking host's subject, if any. */
  placement: { jobId: string; attempt: number } | undefined;
}

/** `provider`: the job's, once its JobQueued was found (the metrics label of a refusal). */
export type Verdict = { ok: true; source: JobSource } | { ok: false; code: Code; message: string; provider?: string };

const X25519_RAW_B64 = /^[A-Za-z0-9+/]{43}=$/;

/**
 * Whether a runner config may be minted for this request (docs/event-flow.md "Runner
 * configs"). Pure. The asking host must be the subject's host, hold the key it registered, and
 * have accepted a placement of this job on this VM (its own VmBootRequested) that has not ended;
 * that placement must be the scheduler's (a JobScheduled on that host's subject for this job and
 * VM) and the job's latest attempt; the job must be queued and not over. A host can therefore
 * mint runners only for work the scheduler gave it, never for another host's or a stale one. Provider-neutral: whether the job's provider mints
 * runners at all, and whether its source has what minting needs, is the provider's to say
 * (`CiProvider.runners`, providers/port.ts).
 */
export function checkRequest(f: RequestFacts): Verdict {
  const { hostId, jobId, vmId, publicKey } = f.request;
  if (f.subject !== `rpc.runner.config.${hostId}`) return { ok: false, code: "wrong-host", message: "the request's host id is not its subject's" };
  if (!X25519_RAW_B64.test(publicKey)) return { ok: false, code: "invalid", message: "publicKey must be a raw X25519 key (32 bytes, base64)" };
  const boot = f.vmEvents.find((e) => e.type === "VmBootRequested");
  if (!boot || boot.type !== "VmBootRequested" || boot.data.jobId !== jobId) {
    return { ok: false, code: "wrong-host", message: `host ${hostId} has accepted no VM ${vmId} for job ${jobId}` };
  }
  if (f.vmEvents.some((e) => e.type === "VmExited" || e.type === "VmDestroyed" || e.type === "VmBootFailed")) {
    return { ok: false, code: "not-runnable", message: `VM ${vmId} has already ended` };
  }
  if (f.registeredKey !== publicKey) return { ok: false, code: "wrong-host", message: `the public key is not the one host ${hostId} registered` };
  const queued = f.jobEvents.find((e) => e.type === "JobQueued");
  if (!queued || queued.type !== "JobQueued") return { ok: false, code: "not-found", message: `job ${jobId} was never queued` };
  const source = queued.data.source;
  if (!f.placement || f.placement.jobId !== jobId) {
    return { ok: false, code: "wrong-host", message: `the scheduler placed no job ${jobId} on VM ${vmId} of host ${hostId}`, provider: source.provider };
  }
  const latest = f.jobEvents.reduce((a, e) => (e.type === "JobRequeued" ? Math.max(a, e.data.attempt) : a), 0);
  if (f.placement.attempt !== latest) {
    return {
      ok: false,
      code: "not-runnable",
      message: `VM ${vmId} is attempt ${f.placement.attempt} of job ${jobId}; its latest is ${latest}`,
      provider: source.provider,
    };
  }
  if (foldHistory(f.jobEvents, 0).ended) return { ok: false, code: "not-runnable", message: `job ${jobId} has already ended`, provider: source.provider };
  return { ok: true, source };
}
