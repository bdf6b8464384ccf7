import type { HostInventory } from "@oneshot/proto";
import { resourceKey, resourcesOf, type ObservedResource } from "./resource-names.js";

/** A host's latest inventory, with how long each of its resources has been reported. */
export interface ObservedInventory {
  /** When hostd took it (the message's occurredAt, hostd's clock, ms). */
  observedAt: number;
  /** TELEMETRY stream sequence: part of the reclaim id, so one inventory yields one request. */
  seq: number;
  /** Only resources named like ours. */
  resources: ObservedResource[];
  /** VM ids whose VMM process the inventory lists. */
  vmProcesses: Set<string>;
  /** `kind:name` → observedAt of the first inventory (in an unbroken run) that listed it. */
  firstSeenAt: Map<string, number>;
  /**
   * VM id → observedAt of the last inventory that listed its VMM process (`vm:<id>`) or
   * anything of it (`any:<id>`): how long something has been gone. Kept for a day.
   */
  lastSeenAt: Map<string, number>;
}

const KEEP_LAST_SEEN_MS = 24 * 3600 * 1000;

/** What the janitor knows of one host from telemetry. */
export interface ObservedHost {
  hostId: string;
  /** occurredAt of the latest HostHeartbeat (ms), undefined when none was seen. */
  heartbeatAt: number | undefined;
  inventory: ObservedInventory | undefined;
}

/**
 * Folds a new inventory into the host's view. A resource keeps its first-seen time while
 * every inventory lists it; one that disappears and comes back starts again. Older or
 * repeated inventories (same or lower sequence) change nothing.
 */
export function observeInventory(prev: ObservedHost | undefined, inv: HostInventory["data"], observedAt: number, seq: number): ObservedHost {
  const base: ObservedHost = prev ?? { hostId: inv.hostId, heartbeatAt: undefined, inventory: undefined };
  if (base.inventory && base.inventory.seq >= seq) return base;
  const resources = resourcesOf(inv);
  const before = base.inventory?.firstSeenAt;
  const firstSeenAt = new Map<string, number>();
  for (const r of resources) {
    const k = resourceKey(r);
    firstSeenAt.set(k, Math.min(before?.get(k) ?? observedAt, observedAt));
  }
  const lastSeenAt = new Map([...(base.inventory?.lastSeenAt ?? [])].filter(([, t]) => t > observedAt - KEEP_LAST_SEEN_MS));
  for (const r of resources) {
    lastSeenAt.set(`any:${r.vmId}`, observedAt);
    if (r.kind === "vm") lastSeenAt.set(`vm:${r.vmId}`, observedAt);
  }
  return {
    ...base,
    inventory: {
      observedAt,
      seq,
      resources,
      firstSeenAt,
      lastSeenAt,
      vmProcesses: new Set(resources.filter((r) => r.kind === "vm").map((r) => r.vmId)),
    },
  };
}

/** Records a heartbeat; an older one than what we have changes nothing. */
export function observeHeartbeat(prev: ObservedHost | undefined, hostId: string, at: number): ObservedHost {
  const base: ObservedHost = prev ?? { hostId, heartbeatAt: undefined, inventory: undefined };
  if (base.heartbeatAt !== undefined && base.heartbeatAt >= at) return base;
  return { ...base, heartbeatAt: at };
}
