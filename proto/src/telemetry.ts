import { z } from "zod";
import { Accel, Id, Resources, defineEvent } from "./common.js";

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

/** Short-retention telemetry (stream TELEMETRY): never part of the audit log. v2: `used` may be zero. */
export const HostHeartbeat = defineEvent("HostHeartbeat", {
  hostId: Id,
  runningVms: z.number().int().nonnegative(),
  used: UsedResources,
  capacity: Resources,
  accel: Accel,
  draining: z.boolean(),
  /** Seconds the hostd process has been up: a restart shows as a drop. */
  uptimeSec: z.number().nonnegative(),
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
