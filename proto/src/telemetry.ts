import { z } from "zod";
import { Accel, Id, Resources, defineEvent } from "./common.js";
import { WarmShape } from "./events/vm.js";

/**
 * HostHeartbeat v1, frozen: `used` was declared as Resources (positive numbers), so an idle
 * host could not send a valid heartbeat. Decoders upcast it to v2 unchanged.
 */
export const HostHeartbeatV1 = defineEvent("HostHeartbeat", {
  hostId: Id,
  runningVms: z.number().int().nonnegative(),
  used: Resources,
  capacity: Resources,
  accel: Accel,
  draining: z.boolean(),
  uptimeSec: z.number().nonnegative(),
});

/** Resources in use: zero when nothing runs. */
export const UsedResources = z.object({
  vcpus: z.number().int().nonnegative(),
  memMiB: z.number().int().nonnegative(),
  diskGiB: z.number().int().nonnegative(),
});

/** HostHeartbeat v2, frozen: no word on warm pools. Decoders upcast it to v3 unchanged (pools unknown). */
export const HostHeartbeatV2 = defineEvent("HostHeartbeat", {
  hostId: Id,
  runningVms: z.number().int().nonnegative(),
  used: UsedResources,
  capacity: Resources,
  accel: Accel,
  draining: z.boolean(),
  uptimeSec: z.number().nonnegative(),
});

/** One warm pool of a host as its heartbeat tells it (docs/warm-pool.md). */
export const WarmPoolStatus = z.object({
  shape: WarmShape,
  /** VMs the pool keeps (HOSTD_WARM_POOLS). */
  target: z.number().int().nonnegative(),
  /** Pool VMs booting: not yet VmWarmed. */
  booting: z.number().int().nonnegative(),
  /** Pool VMs ready for a job. */
  ready: z.number().int().nonnegative(),
  /** Slots lent: to a job handed one of its VMs, or to a cold VM that preempted one (they refill after its VmDestroyed). */
  lent: z.number().int().nonnegative(),
  /** Seconds the oldest ready VM has waited (0: none ready). */
  oldestReadySec: z.number().nonnegative(),
});
export type WarmPoolStatus = z.infer<typeof WarmPoolStatus>;

/**
 * Short-retention telemetry (stream TELEMETRY): never part of the audit log. v2: `used` may be
 * zero. v3: `warmPools`; `runningVms` and `used` stay the jobs' VMs (a warm VM handed a job is
 * one of them), pool VMs without a job are only in `warmPools`.
 */
export const HostHeartbeat = defineEvent("HostHeartbeat", {
  hostId: Id,
  runningVms: z.number().int().nonnegative(),
  used: UsedResources,
  capacity: Resources,
  accel: Accel,
  draining: z.boolean(),
  /** Seconds the hostd process has been up: a restart shows as a drop. */
  uptimeSec: z.number().nonnegative(),
  /** The host's warm pools, one per shape; empty: none configured. Absent: not said (a v2 heartbeat). */
  warmPools: z.array(WarmPoolStatus).max(64).optional(),
});
export type HostHeartbeat = z.infer<typeof HostHeartbeat>;

export const ObservedVm = z.object({
  vmId: z.string().max(12),
  pid: z.number().int(),
  /** Known when hostd can read it from the VM's run dir. */
  jobId: z.string().max(64).optional(),
  startedAt: z.string().datetime({ offset: true }).optional(),
});
export type ObservedVm = z.infer<typeof ObservedVm>;

/** What is really on the machine with oneshot's naming, whoever created it. */
export const HostInventory = defineEvent("HostInventory", {
  hostId: Id,
  vms: z.array(ObservedVm).max(1024),
  taps: z.array(z.string().max(15)).max(4096),
  disks: z.array(z.string().max(4096)).max(4096),
  /** Comments of nft rules tagged `oneshot:<vmId>`. */
  nftRules: z.array(z.string().max(64)).max(4096),
  runDirs: z.array(z.string().max(4096)).max(4096),
});
export type HostInventory = z.infer<typeof HostInventory>;

/** A chunk of a guest's console (stream LOGS, subject `log.host.<hostId>.vm.<vmId>`). */
export const VmOutput = defineEvent("VmOutput", {
  hostId: Id,
  vmId: z.string().max(12),
  jobId: Id,
  /** Console text, in order; hostd batches lines (a few per message). */
  text: z.string().max(64 * 1024),
  /** Byte offset of this chunk in the console log: gaps and repeats are detectable. */
  offset: z.number().int().nonnegative(),
});
export type VmOutput = z.infer<typeof VmOutput>;
export const telemetryMessages = [HostHeartbeat, HostInventory, VmOutput] as const;
