import type { LeakedResource, VmVanished } from "@oneshot/proto";
import type { EndCause } from "./desired-state.js";
import type { ObservedResource } from "./resource-names.js";

export interface LeakSettings {
  /** JANITOR_GRACE: how long something may take to boot or to show up in the log. */
  bootGraceMs: number;
  /** JANITOR_DESTROY_GRACE: how long hostd gets to tear a VM down (or log its exit) after the log says it ended. */
  destroyGraceMs: number;
  /** Inventories and heartbeats older than this are not acted on (JANITOR_HOST_LOST_AFTER). */
  staleAfterMs: number;
  /** JANITOR_RECLAIM_TIMEOUT: a reclaim unanswered this long is escalated. */
  reclaimTimeoutMs: number;
  /** JANITOR_RECLAIM_ATTEMPTS: requests per resource; after that the janitor only escalates. */
  maxReclaimAttempts: number;
}

/**
 * Why a resource is a leak: the log ended its VM (an EndCause), or one of the janitor's own
 * findings. Every cause has a grace period (see `graceOf`).
 */
export type LeakCause = EndCause | "past-timeout" | "unknown-vm" | "orphaned-by-restart" | "vanished";

export interface Leak {
  hostId: string;
  resource: ObservedResource;
  cause: LeakCause;
  detail: string;
  /** When the grace period started (ms). */
  since: number;
  graceMs: number;
}

/** One ReclaimRequested: the leaked resources of one VM id on one host. */
export interface ReclaimDecision {
  hostId: string;
  /** Deterministic from host + resources + inventory sequence: a repeat is deduplicated. */
  reclaimId: string;
  msgId: string;
  inventorySeq: number;
  resources: LeakedResource[];
  reason: string;
  leaks: Leak[];
  /** The VM's chain when the log knows it, else the reclaim id; causation: the event that ended it. */
  correlationId: string;
  causationId: string | null;
}

export type StuckWhy = "no-answer" | "still-present" | "failed";

/** A reclaim that did not take: the janitor logs it and counts `janitor_reclaim_stuck_total`. */
export interface StuckReclaim {
  hostId: string;
  reclaimId: string;
  resource: LeakedResource;
  why: StuckWhy;
  detail: string;
  /** Unique per (reclaim, resource, why): the loop escalates each once. */
  key: string;
}

/**
 * A fact about a VM the log holds as live: its host does not have it (gone, or orphaned by a
 * hostd restart). On the host's subject, once per VM (msgId `vanished:<host>:<vm>`). What
 * becomes of the job it ran or claimed is the scheduler's decision, never the janitor's.
 */
export interface VanishedFact {
  event: VmVanished;
  msgId: string;
  hostId: string;
  vmId: string;
  correlationId: string;
  causationId: string | null;
}

export interface Plan {
  reclaims: ReclaimDecision[];
  stuck: StuckReclaim[];
  vanished: VanishedFact[];
  /** Leaks still inside their grace period (for /metrics and debugging). */
  waiting: Leak[];
}
