import { z } from "zod";
import { Id, VmId, defineEvent } from "../common.js";

export const ResourceKind = z.enum(["vm", "tap", "disk", "nft", "rundir"]);
export type ResourceKind = z.infer<typeof ResourceKind>;

export const LeakedResource = z.object({
  kind: ResourceKind,
  /** Name as hostd reports it: VM id, tap name, file path or nft rule comment. */
  name: z.string().max(4096),
  vmId: z.string().max(12).optional(),
});
export type LeakedResource = z.infer<typeof LeakedResource>;

/** Appended to the host's subject: hostd runs its destroy steps on these resources. */
export const ReclaimRequested = defineEvent("ReclaimRequested", {
  hostId: Id,
  reclaimId: Id,
  resources: z.array(LeakedResource).min(1).max(256),
  reason: z.string().max(512),
});
export type ReclaimRequested = z.infer<typeof ReclaimRequested>;

export const ResourceReclaimed = defineEvent("ResourceReclaimed", {
  hostId: Id,
  reclaimId: Id,
  reclaimed: z.array(LeakedResource).max(256),
  failed: z.array(LeakedResource.extend({ error: z.string().max(512) })).max(256),
});
export type ResourceReclaimed = z.infer<typeof ResourceReclaimed>;

/**
 * Janitor, on the host subject: a fact. The host was declared lost (`lostSeq`) and has not
 * reported its fence, and its lease has run out by the janitor's own clock (HostLost +
 * JANITOR_FENCE_WAIT, sized so that a hostd that could not renew its lease has stopped its VMs
 * by then: docs/fencing.md). The scheduler requeues the host's jobs from here.
 */
export const HostLeaseExpired = defineEvent("HostLeaseExpired", {
  hostId: Id,
  registeredSeq: z.number().int().nonnegative(),
  lostSeq: z.number().int().positive(),
  waitedSec: z.number().int().nonnegative(),
  reason: z.string().max(512),
});
export type HostLeaseExpired = z.infer<typeof HostLeaseExpired>;

/**
 * Janitor, on the host subject: a fact. A placement (JobScheduled) that its host did not claim
 * (no VmBootRequested, no VmBootFailed) within JANITOR_PLACEMENT_TIMEOUT. Its reservation ends
 * here; the scheduler decides about the job (as after a failed boot), and hostd, which reads it
 * after the placement, never boots it. A VmBootRequested stored before it makes it void.
 */
export const PlacementExpired = defineEvent("PlacementExpired", {
  hostId: Id,
  vmId: VmId,
  jobId: Id,
  attempt: z.number().int().nonnegative(),
  waitedSec: z.number().int().nonnegative(),
  reason: z.string().max(512),
});
export type PlacementExpired = z.infer<typeof PlacementExpired>;

export const janitorEvents = [ReclaimRequested, ResourceReclaimed, HostLeaseExpired, PlacementExpired] as const;
