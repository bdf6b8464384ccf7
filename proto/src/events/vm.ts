import { z } from "zod";
import { Arch, Id, IsoTime, VmId, defineEvent } from "../common.js";

const vmRef = { vmId: VmId, hostId: Id, jobId: Id };

/** hostd took ownership of a placement and starts building the VM (the boot request, accepted). */
export const VmBootRequested = defineEvent("VmBootRequested", {
  ...vmRef,
  tap: z.string().max(15).nullable(),
  disks: z.array(z.string().max(4096)).max(8),
});
export type VmBootRequested = z.infer<typeof VmBootRequested>;

export const BootTimings = z.object({
  diskMs: z.number().nonnegative(),
  configMs: z.number().nonnegative(),
  netMs: z.number().nonnegative(),
  vmmStartMs: z.number().nonnegative(),
  /** VMM spawn → the agent's ready marker on the console. */
  agentReadyMs: z.number().nonnegative(),
  totalMs: z.number().nonnegative(),
});
export type BootTimings = z.infer<typeof BootTimings>;

/** VmBooted v1, frozen: every VM booted for its job (cold). Every v1 is a v2. */
export const VmBootedV1 = defineEvent("VmBooted", {
  ...vmRef,
  vmm: z.enum(["qemu", "firecracker"]),
  accel: z.enum(["kvm", "tcg"]),
  pid: z.number().int().nullable(),
  timings: BootTimings,
});

/** How a job's VM started: booted for it (`cold`) or a pool VM handed the job (`warm`, docs/warm-pool.md). */
export const StartKind = z.enum(["cold", "warm"]);
export type StartKind = z.infer<typeof StartKind>;

/**
 * The VM's agent is ready to run its job. v2: `start` (absent = cold) and, for a warm VM,
 * `handOverMs`: the job's placement read → the agent ready with the job (the boot happened
 * before, at pool fill; `timings` are that boot's).
 */
export const VmBooted = defineEvent("VmBooted", {
  ...vmRef,
  vmm: z.enum(["qemu", "firecracker"]),
  accel: z.enum(["kvm", "tcg"]),
  pid: z.number().int().nullable(),
  timings: BootTimings,
  start: StartKind.optional(),
  handOverMs: z.number().nonnegative().optional(),
});
export type VmBooted = z.infer<typeof VmBooted>;

export const VmBootFailed = defineEvent("VmBootFailed", {
  ...vmRef,
  /** Stable machine-readable code, e.g. `vmm-exited`, `agent-timeout`, `disk`, `network`, `config`. */
  code: z.string().max(64),
  reason: z.string().max(1024),
  consoleTail: z.string().max(8192),
});
export type VmBootFailed = z.infer<typeof VmBootFailed>;

export const VmExited = defineEvent("VmExited", {
  ...vmRef,
  /** The job's exit code from the guest agent; null when the VM ended without reporting one. */
  exitCode: z.number().int().nullable(),
  /** `exited`, `timeout` (killed by hostd), `killed` (reclaim/cancel), `crashed` (no marker). */
  reason: z.enum(["exited", "timeout", "killed", "crashed"]),
  runMs: z.number().nonnegative(),
});
export type VmExited = z.infer<typeof VmExited>;

export const VmDestroyed = defineEvent("VmDestroyed", {
  ...vmRef,
  /** What was removed (process, tap, nft rules, disks), for the audit trail. */
  removed: z.array(z.string().max(4096)).max(32),
});
export type VmDestroyed = z.infer<typeof VmDestroyed>;

/**
 * Scheduler, on the host subject: the VM's runner has started no job and nothing is left for
 * it (the job it was booted for ran elsewhere, ended or was cancelled, and no queued job its
 * labels cover is waiting), or it passed the idle deadline. Not yet a kill: the reconciler
 * first asks the provider whether the runner took a job (the webhook saying so may be late or
 * lost) and retires the runner there, then writes VmRetired, or JobStarted when it did run one.
 */
export const VmIdle = defineEvent("VmIdle", {
  hostId: Id,
  vmId: VmId,
  /** The job the VM was booted for (its source says which provider and scope to ask). */
  bootedForJobId: Id,
  runnerName: z.string().max(256),
  reason: z.string().max(512),
  /** Unstarted jobs this runner could have taken: the reconciler checks each with the provider. */
  candidateJobIds: z.array(Id).max(100),
});
export type VmIdle = z.infer<typeof VmIdle>;

/**
 * Reconciler, on the host subject: the provider confirmed the idle VM's runner runs no job and
 * can take none (its registration is removed), so the VM may be destroyed.
 */
export const VmRetired = defineEvent("VmRetired", {
  hostId: Id,
  vmId: VmId,
  reason: z.string().max(512),
});
export type VmRetired = z.infer<typeof VmRetired>;

/**
 * Janitor, on the host subject: a fact, not a decision. The log holds the VM as live but the
 * host's inventory shows it gone (its VMM died, hostd restarted without it) and no VmDestroyed
 * will come. Its reservation ends here; what happens to its job is the scheduler's call.
 */
export const VmVanished = defineEvent("VmVanished", {
  hostId: Id,
  vmId: VmId,
  jobId: Id,
  reason: z.string().max(512),
});
export type VmVanished = z.infer<typeof VmVanished>;

/**
 * hostd, on the VM's subject: the host's isolation rules for this VM were missing or altered
 * (a firewall reload, `nft flush ruleset`) and could not be put back, so the VM was ended
 * rather than left running unisolated (fail closed). Its VmExited (`killed`) and VmDestroyed
 * follow as usual; this event says why.
 */
export const VmIsolationLost = defineEvent("VmIsolationLost", {
  ...vmRef,
  /** What hostd did about it: `killed` (the VMM stopped at once, no grace). */
  action: z.enum(["killed"]),
  /** What was wrong and why restoring failed (nft's own message, the rules still missing). */
  reason: z.string().max(512),
});
export type VmIsolationLost = z.infer<typeof VmIsolationLost>;

/** One destination a VM's egress policy denied (or, in audit mode, would have): aggregated over the event's window. */
export const EgressDestination = z.object({
  address: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/),
  protocol: z.enum(["tcp", "udp"]),
  port: z.number().int().min(0).max(65535),
  /** New connections (or datagrams of a new flow) seen in the window. */
  count: z.number().int().positive(),
  /**
   * `not-allowed`: outside the allow list; `forbidden`: a private, host or metadata address
   * (always dropped, whatever the mode: DNS rebinding lands here); `dns`: DNS to another server
   * than the host's proxy (always dropped while the proxy runs).
   */
  reason: z.enum(["not-allowed", "forbidden", "dns"]),
  /** `dropped`, or `allowed` (audit mode, `not-allowed` only: it went through and is recorded). */
  action: z.enum(["dropped", "allowed"]),
  /** Names the VM resolved to this address through the proxy, if any. */
  names: z.array(z.string().max(253)).max(8),
});
export type EgressDestination = z.infer<typeof EgressDestination>;

/** One DNS name the proxy refused (or, in audit mode, answered but would have refused). */
export const EgressQuery = z.object({
  name: z.string().max(253),
  count: z.number().int().positive(),
  action: z.enum(["refused", "allowed"]),
});
export type EgressQuery = z.infer<typeof EgressQuery>;

/**
 * hostd, on the VM's subject: what the VM's egress policy denied, or in audit mode would have
 * denied (docs/egress-policy.md), aggregated per destination over a window and rate limited
 * (at most one per VM per HOSTD_EGRESS_REPORT_INTERVAL, one last at destroy). `dropped*` count
 * what the lists left out (a VM hammering thousands of addresses is still one bounded event).
 */
export const VmEgressDenied = defineEvent("VmEgressDenied", {
  ...vmRef,
  mode: z.enum(["open", "allow", "audit"]),
  /** Where the policy came from (EgressPolicy.source). */
  source: z.string().max(128),
  windowStart: IsoTime,
  windowEnd: IsoTime,
  destinations: z.array(EgressDestination).max(64),
  queries: z.array(EgressQuery).max(64),
  /** Destinations and names past the lists' caps, left out of this event. */
  droppedDestinations: z.number().int().nonnegative(),
  droppedQueries: z.number().int().nonnegative(),
});
export type VmEgressDenied = z.infer<typeof VmEgressDenied>;

/** A warm pool's shape (docs/warm-pool.md): what a job must ask for to be handed a VM of it. */
export const WarmShape = z.object({
  arch: Arch,
  vcpus: z.number().int().positive(),
  memMiB: z.number().int().positive(),
  diskGiB: z.number().int().positive(),
  image: z.string().min(1).max(64),
});
export type WarmShape = z.infer<typeof WarmShape>;

/**
 * hostd, on the VM's subject: a pool VM of this shape booted with nothing job-specific and its
 * agent waits for a job on its job drive. It ran nothing; a JobScheduled naming it hands it one.
 */
export const VmWarmed = defineEvent("VmWarmed", {
  hostId: Id,
  vmId: VmId,
  shape: WarmShape,
  vmm: z.enum(["qemu", "firecracker"]),
  accel: z.enum(["kvm", "tcg"]),
  timings: BootTimings,
});
export type VmWarmed = z.infer<typeof VmWarmed>;

/**
 * hostd, on the VM's subject: a pool VM was destroyed without ever running a job (past its
 * maximum age, hostd stopping, boot failure, preempted, or its pool shrank).
 */
export const WarmVmRetired = defineEvent("WarmVmRetired", {
  hostId: Id,
  vmId: VmId,
  reason: z.enum(["max-age", "stopping", "boot-failed", "preempted", "pool-shrunk", "killed"]),
  detail: z.string().max(512),
  removed: z.array(z.string().max(4096)).max(32),
});
export type WarmVmRetired = z.infer<typeof WarmVmRetired>;

export const vmEvents = [
  VmBootRequested,
  VmBooted,
  VmBootFailed,
  VmExited,
  VmDestroyed,
  VmIdle,
  VmRetired,
  VmVanished,
  VmIsolationLost,
  VmWarmed,
  WarmVmRetired,
  VmEgressDenied,
] as const;
