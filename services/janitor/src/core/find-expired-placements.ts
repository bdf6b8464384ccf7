import type { PlacementExpired } from "@oneshot/proto";
import type { DesiredState } from "./desired-state.js";

export interface PlacementExpiredDecision {
  event: PlacementExpired;
  msgId: string;
  correlationId: string;
  causationId: string | null;
}

/**
 * Placements nobody claimed: a JobScheduled with no VmBootRequested, VmBootFailed or any end
 * `timeoutMs` after it was placed (the scheduler's occurredAt: a control-side clock). Its
 * host may have dead-lettered it, or its consumer may be stuck; either way its capacity must
 * not stay reserved. Lost hosts are left to their fence. Once per VM. Pure; `now` is an input.
 */
export function findExpiredPlacements(desired: DesiredState, now: number, timeoutMs: number): PlacementExpiredDecision[] {
  const out: PlacementExpiredDecision[] = [];
  if (timeoutMs <= 0) return out;
  for (const vm of desired.vms.values()) {
    if (vm.ended || vm.scheduledAt === undefined || vm.bootRequestedSeq !== undefined || vm.lastVmEventSeq > 0) continue;
    const host = desired.hosts.get(vm.hostId);
    if (host?.lost || host?.deregistered) continue;
    const waited = now - vm.scheduledAt;
    if (waited < timeoutMs) continue;
    const waitedSec = Math.floor(waited / 1000);
    out.push({
      msgId: `placement-expired:${vm.hostId}:${vm.vmId}`,
      correlationId: vm.correlationId,
      causationId: vm.scheduledEventId ?? null,
      event: {
        type: "PlacementExpired",
        data: {
          hostId: vm.hostId,
          vmId: vm.vmId,
          jobId: vm.jobId,
          attempt: vm.attempt,
          waitedSec,
          reason: `no VmBootRequested ${waitedSec}s after JobScheduled (JANITOR_PLACEMENT_TIMEOUT ${Math.round(timeoutMs / 1000)}s)`,
        },
      },
    });
  }
  return out.sort((a, b) => a.msgId.localeCompare(b.msgId));
}
