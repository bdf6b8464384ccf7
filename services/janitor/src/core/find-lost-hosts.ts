import type { HostLost } from "@oneshot/proto";
import type { DesiredState } from "./desired-state.js";
import type { ObservedHost } from "./observed-state.js";

/** When the janitor read a host's latest HostRegistered / HostLost (its own clock, ms), by sequence. */
export interface HostSeen {
  registered?: { seq: number; at: number };
  lost?: { seq: number; at: number };
}

/** One host as the lost-host check sees it. Every time here is the janitor's own clock. */
export interface HostLiveness {
  hostId: string;
  /** When the janitor received its latest heartbeat (ms), null when it never got one. */
  lastHeartbeatAt: number | null;
  /** When the janitor read its latest HostRegistered (ms), and that event's sequence (one HostLost per registration). */
  registeredAt: number;
  registeredSeq: number;
  /** The registration's event id and chain: HostLost joins that chain. */
  registeredEventId: string;
  correlationId: string;
  /** Already declared lost since that registration, or deregistered: nothing more to say. */
  settled: boolean;
}

export interface LostHostDecision {
  event: HostLost;
  msgId: string;
  correlationId: string;
  causationId: string;
}

/**
 * Every registered host, with its latest heartbeat. A registration counts from when the
 * janitor read it (`seen`); the event's occurredAt, the host's clock, only when that is unknown.
 */
export function livenessOf(
  desired: DesiredState,
  observed: ReadonlyMap<string, ObservedHost>,
  seen: ReadonlyMap<string, HostSeen> = new Map(),
): HostLiveness[] {
  return [...desired.hosts.values()].map((h) => ({
    hostId: h.hostId,
    lastHeartbeatAt: observed.get(h.hostId)?.heartbeatAt ?? null,
    registeredAt: seen.get(h.hostId)?.registered?.seq === h.registeredSeq ? seen.get(h.hostId)!.registered!.at : h.registeredAt,
    registeredSeq: h.registeredSeq,
    registeredEventId: h.registeredEventId,
    correlationId: h.correlationId,
    settled: h.lost !== undefined || h.deregistered,
  }));
}

/**
 * Hosts silent for at least `lostAfterMs`. Silence counts from the latest of: the last
 * heartbeat, the registration, and `watchingSince` (when this janitor started reading
 * telemetry, or last reconnected): a janitor or NATS outage is not the host's silence.
 * All of them, and `now`, are the janitor's clock: two machines' clocks are never compared.
 * Pure; `now` is an input.
 */
export function findLostHosts(hosts: readonly HostLiveness[], now: number, lostAfterMs: number, watchingSince = Number.NEGATIVE_INFINITY): LostHostDecision[] {
  const out: LostHostDecision[] = [];
  for (const h of [...hosts].sort((a, b) => a.hostId.localeCompare(b.hostId))) {
    if (h.settled) continue;
    const silentSince = Math.max(h.lastHeartbeatAt ?? Number.NEGATIVE_INFINITY, h.registeredAt, watchingSince);
    if (now - silentSince < lostAfterMs) continue;
    const lastSeenAt = h.lastHeartbeatAt === null ? null : new Date(h.lastHeartbeatAt).toISOString();
    const silentSec = Math.round((now - Math.max(h.lastHeartbeatAt ?? h.registeredAt, h.registeredAt)) / 1000);
    out.push({
      msgId: `lost:${h.hostId}:${h.registeredSeq}`,
      correlationId: h.correlationId,
      causationId: h.registeredEventId,
      event: {
        type: "HostLost",
        data: {
          hostId: h.hostId,
          lastSeenAt,
          reason:
            h.lastHeartbeatAt === null || h.lastHeartbeatAt < h.registeredAt
              ? `no heartbeat for ${silentSec}s since it registered (limit ${Math.round(lostAfterMs / 1000)}s)`
              : `no heartbeat for ${silentSec}s (limit ${Math.round(lostAfterMs / 1000)}s)`,
        },
      },
    });
  }
  return out;
}
