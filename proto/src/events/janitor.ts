import { z } from "zod";
import { Id, defineEvent } from "../common.js";

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

export const janitorEvents = [ReclaimRequested, ResourceReclaimed] as const;
