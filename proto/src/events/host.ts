import { z } from "zod";
import { Accel, Arch, Id, Resources, Vmm, defineEvent } from "../common.js";

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

export const hostEvents = [
  HostRegistered, HostCordoned, HostUncordoned, HostDrained, HostLost, HostDeregistered,
] as const;
