import { z } from "zod";
import { Id, JobSpec, JobSpecV1, JobSpecV2, Provider, VmId, defineEvent } from "../common.js";
import { WarmShape } from "./vm.js";

/** Where a job came from; `org` is the fairness key (GitHub org/owner, GitLab namespace, `local`). */
export const JobSource = z.object({
  provider: Provider,
  repo: z.string().min(1).max(256),
  org: z.string().min(1).max(256),
  /** The provider's own job id (GitHub workflow_job.id, GitLab build_id, or the local id). */
  providerJobId: z.string().min(1).max(64),
  runId: z.string().max(64).optional(),
  runAttempt: z.number().int().positive().optional(),
  labels: z.array(z.string().max(128)).max(100),
  /** GitHub App installation that delivered it: the broker mints the JIT config with it. */
  installationId: z.number().int().optional(),
  /** GitLab project id: the broker creates the runner in it. */
  projectId: z.number().int().optional(),
  /** GitHub: who owns the repo; the broker mints org-level runners for organisations, repo-level for users. */
  ownerType: z.enum(["Organization", "User"]).optional(),
});
export type JobSource = z.infer<typeof JobSource>;

/** JobQueued v1, frozen: its spec had no `netMbit`. Every v1 is a v2. */
export const JobQueuedV1 = defineEvent("JobQueued", {
  jobId: Id,
  source: JobSource,
  spec: JobSpecV1,
  script: z
    .string()
    .max(256 * 1024)
    .optional(),
});

/** JobQueued v2, frozen: its spec had no `egress`. Every v2 is a v3 (open egress). */
export const JobQueuedV2 = defineEvent("JobQueued", {
  jobId: Id,
  source: JobSource,
  spec: JobSpecV2,
  script: z
    .string()
    .max(256 * 1024)
    .optional(),
});

/** v2: `spec.netMbit`, the rate the job asked for. v3: `spec.egress`, the egress policy it runs under. */
export const JobQueued = defineEvent("JobQueued", {
  jobId: Id,
  source: JobSource,
  spec: JobSpec,
  /** Local jobs only: the shell script the guest runs (the user's own command, not a secret). */
  script: z
    .string()
    .max(256 * 1024)
    .optional(),
});
export type JobQueued = z.infer<typeof JobQueued>;

export const JobIgnored = defineEvent("JobIgnored", {
  jobId: Id,
  source: JobSource,
  reason: z.string().max(512),
});
export type JobIgnored = z.infer<typeof JobIgnored>;

/** JobScheduled v1, frozen: its spec had no `netMbit`. Every v1 is a v2. */
export const JobScheduledV1 = defineEvent("JobScheduled", {
  jobId: Id,
  hostId: Id,
  vmId: VmId,
  spec: JobSpecV1,
  attempt: z.number().int().nonnegative(),
  script: z
    .string()
    .max(256 * 1024)
    .optional(),
});

/** JobScheduled v2, frozen: every placement booted a VM for its job. Every v2 is a v3 (cold). */
export const JobScheduledV2 = defineEvent("JobScheduled", {
  jobId: Id,
  hostId: Id,
  vmId: VmId,
  spec: JobSpecV2,
  attempt: z.number().int().nonnegative(),
  script: z
    .string()
    .max(256 * 1024)
    .optional(),
});

/** JobScheduled v3, frozen: its spec had no `egress`. Every v3 is a v4 (open egress). */
export const JobScheduledV3 = defineEvent("JobScheduled", {
  jobId: Id,
  hostId: Id,
  vmId: VmId,
  spec: JobSpecV2,
  attempt: z.number().int().nonnegative(),
  script: z
    .string()
    .max(256 * 1024)
    .optional(),
  start: z.enum(["cold", "warm"]).optional(),
  preempts: z
    .array(z.object({ vmId: VmId, shape: WarmShape }))
    .max(16)
    .optional(),
});

/**
 * Appended to the *host* subject with optimistic concurrency: it is the capacity reservation.
 * v4: `spec.egress`, the job's egress policy (hostd enforces it). v2: `spec.netMbit`. v3: `start` — `warm`: `vmId` names a ready pool VM of the host (VmWarmed)
 * that is handed this job instead of a boot (docs/warm-pool.md); absent or `cold`: boot one —
 * and `preempts`, the warm VMs a cold boot takes the capacity of.
 */
export const JobScheduled = defineEvent("JobScheduled", {
  jobId: Id,
  hostId: Id,
  vmId: VmId,
  spec: JobSpec,
  /** 0 for the first placement, +1 after each requeue: part of the dedupe id. */
  attempt: z.number().int().nonnegative(),
  /**
   * Local jobs: the script, copied from JobQueued, so hostd reads nothing but its own host's
   * subject (least privilege: a hostd identity may not read job subjects).
   */
  script: z
    .string()
    .max(256 * 1024)
    .optional(),
  start: z.enum(["cold", "warm"]).optional(),
  /**
   * Warm VMs of this host (of other shapes) the placement needs the capacity of: hostd destroys
   * them before it boots this job's VM, and their pool slots stay empty until this VM is
   * destroyed (the job holds that capacity meanwhile). Their shapes say how much.
   */
  preempts: z
    .array(z.object({ vmId: VmId, shape: WarmShape }))
    .max(16)
    .optional(),
});
export type JobScheduled = z.infer<typeof JobScheduled>;

export const JobUnschedulable = defineEvent("JobUnschedulable", { jobId: Id, reason: z.string().max(512) });
export type JobUnschedulable = z.infer<typeof JobUnschedulable>;

/** JobStarted v1, frozen: every v1 came from a webhook. Upcast to v2 with `reportedBy: "webhook"`. */
export const JobStartedV1 = defineEvent("JobStarted", {
  jobId: Id,
  runnerName: z.string().max(256).optional(),
  hostId: Id.optional(),
  vmId: VmId.optional(),
});

/**
 * The provider says a runner took the job. `runnerName` (and the VM it names) is the only
 * reliable job → VM link: a runner is not bound to the job its VM was booted for. v2: who
 * learned it (a webhook, or the reconciler reading the provider's API) and why.
 */
export const JobStarted = defineEvent("JobStarted", {
  jobId: Id,
  runnerName: z.string().max(256).optional(),
  hostId: Id.optional(),
  vmId: VmId.optional(),
  reportedBy: z.enum(["webhook", "reconcile"]),
  /** Reconcile only: what the provider's API said. */
  reason: z.string().max(512).optional(),
});
export type JobStarted = z.infer<typeof JobStarted>;

export const Conclusion = z.enum(["success", "failure", "cancelled", "skipped", "timed_out", "neutral", "action_required", "stale"]);
/** JobCompleted v1, frozen. Every v1 value is a valid v2 value. */
export const JobCompletedV1 = defineEvent("JobCompleted", {
  jobId: Id,
  conclusion: Conclusion,
  exitCode: z.number().int().nullable(),
  reportedBy: z.enum(["provider", "vm"]),
});

/** v2: `reconcile` (the provider's API said so after a webhook was lost) and its reason. */
export const JobCompleted = defineEvent("JobCompleted", {
  jobId: Id,
  conclusion: Conclusion,
  /** Exit code seen in the VM (local jobs), null when unknown. */
  exitCode: z.number().int().nullable(),
  /** Who said so: the provider's webhook, the VM's exit, or the reconciler reading the provider's API. */
  reportedBy: z.enum(["provider", "vm", "reconcile"]),
  reason: z.string().max(512).optional(),
});
export type JobCompleted = z.infer<typeof JobCompleted>;

export const JobCancelled = defineEvent("JobCancelled", { jobId: Id, reason: z.string().max(512) });
export type JobCancelled = z.infer<typeof JobCancelled>;

/**
 * JobRequeued v1, frozen. A v1 always ended the named VM's reservation (the janitor wrote
 * some for VMs that vanished): it upcasts to v2 with `releasesVm: true`.
 */
export const JobRequeuedV1 = defineEvent("JobRequeued", {
  jobId: Id,
  fromHostId: Id,
  vmId: VmId,
  reason: z.string().max(512),
  attempt: z.number().int().positive(),
});

/**
 * The job lost its claim to a VM and waits for another placement. v2: `releasesVm` says
 * whether the named VM's reservation ends here. The scheduler writes `false`: the VM may be
 * alive and running another job (its runner took that one), and frees at VmDestroyed.
 */
export const JobRequeued = defineEvent("JobRequeued", {
  jobId: Id,
  fromHostId: Id,
  vmId: VmId,
  reason: z.string().max(512),
  /** The attempt the next placement will carry. */
  attempt: z.number().int().positive(),
  releasesVm: z.boolean(),
});
export type JobRequeued = z.infer<typeof JobRequeued>;

/**
 * The scheduler moved the job's claim to a VM that is already booting or booted and whose
 * runner can take the job (its labels cover the job's), instead of booting a new one: the VM
 * booted for another job that ran elsewhere, or whose runner took this job's place.
 */
export const JobRebound = defineEvent("JobRebound", {
  jobId: Id,
  hostId: Id,
  vmId: VmId,
  /** The VM the job had a claim on before, when it had one. */
  fromVmId: VmId.optional(),
  reason: z.string().max(512),
});
export type JobRebound = z.infer<typeof JobRebound>;

export const JobFailed = defineEvent("JobFailed", {
  jobId: Id,
  reason: z.string().max(512),
  hostId: Id.optional(),
  vmId: VmId.optional(),
});
export type JobFailed = z.infer<typeof JobFailed>;

export const jobEvents = [
  JobQueued,
  JobIgnored,
  JobScheduled,
  JobUnschedulable,
  JobStarted,
  JobCompleted,
  JobCancelled,
  JobRequeued,
  JobFailed,
  JobRebound,
] as const;
