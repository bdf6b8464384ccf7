import { z } from "zod";
import { Accel, Arch, Id, Resources, VmId, Vmm, defineEvent } from "../common.js";

export const HostRegistered = defineEvent("HostRegistered", {
  hostId: Id,
  arch: Arch,
  /** What the scheduler may hand out (the host's reserve already subtracted). */
  capacity: Resources,
  labels: z.array(z.string().max(128)).max(64),
  vmm: Vmm,
  accel: Accel,
  /** True when guests of `arch` run under emulation on a machine of another arch (testing only). */
  emulated: z.boolean(),
  images: z.array(z.string()).max(32),
  /** X25519 public key (base64, raw 32 bytes): runner configs are sealed to it. */
  publicKey: z.string().max(128),
  version: z.string().max(64),
});
export type HostRegistered = z.infer<typeof HostRegistered>;

export const HostCordoned = defineEvent("HostCordoned", { hostId: Id, reason: z.string().max(512) });
export type HostCordoned = z.infer<typeof HostCordoned>;

export const HostUncordoned = defineEvent("HostUncordoned", { hostId: Id, reason: z.string().max(512) });
export type HostUncordoned = z.infer<typeof HostUncordoned>;

/** Drain: no new placements; running VMs finish; hostd deregisters once empty. */
export const HostDrained = defineEvent("HostDrained", { hostId: Id, reason: z.string().max(512) });
export type HostDrained = z.infer<typeof HostDrained>;

export const HostLost = defineEvent("HostLost", {
  hostId: Id,
  lastSeenAt: z.string().datetime({ offset: true }).nullable(),
  reason: z.string().max(512),
});
export type HostLost = z.infer<typeof HostLost>;

export const HostDeregistered = defineEvent("HostDeregistered", { hostId: Id, reason: z.string().max(512) });
export type HostDeregistered = z.infer<typeof HostDeregistered>;

/**
 * hostd, on its own subject (docs/fencing.md): it stopped every VM it had (running ones killed,
 * queued ones never booted) because it was declared lost (`trigger: host-lost`, `lostSeq` the
 * HostLost it read) or because it could not renew its lease (`lease-expired`: no heartbeat
 * acknowledged for HOSTD_FENCE_AFTER). Appended after the VMs' own VmExited/VmDestroyed and
 * before it registers again: the scheduler requeues the host's jobs from here.
 */
export const HostFenced = defineEvent("HostFenced", {
  hostId: Id,
  /** Sequence of the HostRegistered whose VMs were stopped. */
  registeredSeq: z.number().int().nonnegative(),
  lostSeq: z.number().int().positive().nullable(),
  trigger: z.enum(["host-lost", "lease-expired"]),
  vmsStopped: z.array(VmId).max(1024),
  reason: z.string().max(512),
});
export type HostFenced = z.infer<typeof HostFenced>;

export const hostEvents = [HostRegistered, HostCordoned, HostUncordoned, HostDrained, HostLost, HostDeregistered, HostFenced] as const;
