import { z } from "zod";
import { Id, JobSpec, Provider, VmId, defineEvent } from "../common.js";

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

export const JobQueued = defineEvent("JobQueued", {
  jobId: Id,
  source: JobSource,
  spec: JobSpec,
  /** Local jobs only: the shell script the guest runs (the user's own command, not a secret). */
  script: z.string().max(256 * 1024).optional(),
});
export type JobQueued = z.infer<typeof JobQueued>;

export const JobIgnored = defineEvent("JobIgnored", {
  jobId: Id,
  source: JobSource,
  reason: z.string().max(512),
});
export type JobIgnored = z.infer<typeof JobIgnored>;

/** Appended to the *host* subject with optimistic concurrency: it is the capacity reservation. */
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
  script: z.string().max(256 * 1024).optional(),
});
export type JobScheduled = z.infer<typeof JobScheduled>;

export const JobUnschedulable = defineEvent("JobUnschedulable", { jobId: Id, reason: z.string().max(512) });
export type JobUnschedulable = z.infer<typeof JobUnschedulable>;

export const JobStarted = defineEvent("JobStarted", {
  jobId: Id,
  runnerName: z.string().max(256).optional(),
  hostId: Id.optional(),
  vmId: VmId.optional(),
});
export type JobStarted = z.infer<typeof JobStarted>;

export const Conclusion = z.enum([
  "success", "failure", "cancelled", "skipped", "timed_out", "neutral", "action_required", "stale",
]);
export const JobCompleted = defineEvent("JobCompleted", {
  jobId: Id,
  conclusion: Conclusion,
  /** Exit code seen in the VM (local jobs), null when unknown. */
  exitCode: z.number().int().nullable(),
  /** Who said so: the provider's webhook, or the VM's exit. */
  reportedBy: z.enum(["provider", "vm"]),
});
export type JobCompleted = z.infer<typeof JobCompleted>;

export const JobCancelled = defineEvent("JobCancelled", { jobId: Id, reason: z.string().max(512) });
export type JobCancelled = z.infer<typeof JobCancelled>;

export const JobRequeued = defineEvent("JobRequeued", {
  jobId: Id,
  fromHostId: Id,
  vmId: VmId,
  reason: z.string().max(512),
  /** The attempt the next placement will carry. */
  attempt: z.number().int().positive(),
});
export type JobRequeued = z.infer<typeof JobRequeued>;

export const JobFailed = defineEvent("JobFailed", {
  jobId: Id,
  reason: z.string().max(512),
  hostId: Id.optional(),
  vmId: VmId.optional(),
});
export type JobFailed = z.infer<typeof JobFailed>;

export const jobEvents = [
  JobQueued, JobIgnored, JobScheduled, JobUnschedulable, JobStarted, JobCompleted, JobCancelled,
  JobRequeued, JobFailed,
] as const;
