import { z } from "zod";
import { Id, VmId, defineEvent } from "../common.js";

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

export const VmBooted = defineEvent("VmBooted", {
  ...vmRef,
  vmm: z.enum(["qemu", "firecracker"]),
  accel: z.enum(["kvm", "tcg"]),
  pid: z.number().int().nullable(),
  timings: BootTimings,
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

export const vmEvents = [VmBootRequested, VmBooted, VmBootFailed, VmExited, VmDestroyed] as const;
