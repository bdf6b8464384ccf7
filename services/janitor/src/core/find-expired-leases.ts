import type { HostLeaseExpired } from "@oneshot/proto";
import type { DesiredState } from "./desired-state.js";
import type { HostSeen } from "./find-lost-hosts.js";

export interface LeaseExpiredDecision {
  event: HostLeaseExpired;
  msgId: string;
  correlationId: string;
  causationId: string | null;
}

/**
 * Lost hosts that have not reported their fence (no HostFenced after the HostLost) once
 * `fenceWaitMs` has passed since the janitor read the HostLost, by its own clock: by the lease
 * contract (docs/fencing.md) such a host stopped its VMs by then, so the fact may be stated and
 * the scheduler may requeue. One per HostLost. A host registered again since is not lost (its
 * restart destroyed what it could not follow). Pure; `now` is an input.
 */
export function findExpiredLeases(desired: DesiredState, seen: ReadonlyMap<string, HostSeen>, now: number, fenceWaitMs: number): LeaseExpiredDecision[] {
  const out: LeaseExpiredDecision[] = [];
  for (const h of [...desired.hosts.values()].sort((a, b) => a.hostId.localeCompare(b.hostId))) {
    const lost = h.lost;
    if (!lost || h.deregistered || h.fencedSeq > lost.seq || h.leaseExpiredFor >= lost.seq) continue;
    const readAt = seen.get(h.hostId)?.lost?.seq === lost.seq ? seen.get(h.hostId)!.lost!.at : lost.at;
    const waited = now - readAt;
    if (waited < fenceWaitMs) continue;
    const waitedSec = Math.floor(waited / 1000);
    out.push({
      msgId: `lease-expired:${h.hostId}:${lost.seq}`,
      correlationId: h.correlationId,
      causationId: h.registeredEventId,
      event: {
        type: "HostLeaseExpired",
        data: {
          hostId: h.hostId,
          registeredSeq: h.registeredSeq,
          lostSeq: lost.seq,
          waitedSec,
          reason: `no HostFenced ${waitedSec}s after HostLost (seq ${lost.seq}); fence wait ${Math.round(fenceWaitMs / 1000)}s`,
        },
      },
    });
  }
  return out;
}
