import type { HostLeaseExpired, HostLost, PlacementExpired, ReclaimRequested, VmVanished } from "@oneshot/proto";
import type { Plan, ReclaimDecision, VanishedFact } from "./plan.js";

/**
 * Everything the janitor ever appends: facts about hosts and VMs, and requests to hosts. No
 * job event is in this union on purpose: requeueing, failing or completing a job is the
 * scheduler's (or ingest's) decision (docs/runner-model.md, "one policy, one owner").
 */
export type JanitorEvent = VmVanished | ReclaimRequested | HostLost | HostLeaseExpired | PlacementExpired;

export type PlannedAppend =
  | { kind: "vanished"; event: VmVanished; msgId: string; correlationId: string; causationId: string | null; fact: VanishedFact }
  | { kind: "reclaim"; event: ReclaimRequested; msgId: string; correlationId: string; causationId: string | null; decision: ReclaimDecision };

/** A plan's appends, in order: the facts first (the VM is gone), then the reclaims of what it left. */
export function appendsOf(plan: Plan): PlannedAppend[] {
  return [
    ...plan.vanished.map((fact): PlannedAppend => ({
      kind: "vanished",
      event: fact.event,
      msgId: fact.msgId,
      correlationId: fact.correlationId,
      causationId: fact.causationId,
      fact,
    })),
    ...plan.reclaims.map((r): PlannedAppend => ({
      kind: "reclaim",
      msgId: r.msgId,
      correlationId: r.correlationId,
      causationId: r.causationId,
      decision: r,
      event: { type: "ReclaimRequested", data: { hostId: r.hostId, reclaimId: r.reclaimId, resources: r.resources, reason: r.reason } },
    })),
  ];
}
