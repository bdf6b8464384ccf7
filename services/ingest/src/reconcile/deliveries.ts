import type { DomainEvent } from "@oneshot/proto";
import type { HookDelivery } from "./types.js";

export interface RedeliveryOptions {
  /** GitHub keeps deliveries, and redelivers them, for 3 days. */
  windowMs: number;
  /** A guid we asked to redeliver this recently is not asked again (its new attempt may be under way). */
  quietMs: number;
  /** Only these events are ours to redeliver. */
  events: ReadonlySet<string>;
}

export const defaultRedeliveryOptions: RedeliveryOptions = { windowMs: 3 * 24 * 3600_000, quietMs: 3600_000, events: new Set(["workflow_job"]) };

export const failed = (d: HookDelivery) => d.statusCode === 0 || d.statusCode >= 400;

/**
 * The failed deliveries to redeliver, one per guid (its newest failed attempt). Pure. A guid
 * is skipped when any attempt of it succeeded (ingest has it: the guid is what it dedupes on),
 * when we redelivered it within `quietMs` (DeliveryRedelivered in the log), or when the failed
 * attempt is older than GitHub's window.
 */
export function deliveriesToRedeliver(
  rows: readonly HookDelivery[],
  redelivered: ReadonlyMap<string, number>,
  nowMs: number,
  o: RedeliveryOptions = defaultRedeliveryOptions,
): HookDelivery[] {
  const succeeded = new Set(rows.filter((d) => !failed(d)).map((d) => d.guid));
  const newestFailed = new Map<string, HookDelivery>();
  for (const d of rows) {
    if (!failed(d) || succeeded.has(d.guid) || !o.events.has(d.event)) continue;
    const at = Date.parse(d.deliveredAt);
    if (!Number.isFinite(at) || nowMs - at > o.windowMs) continue;
    const asked = redelivered.get(d.guid);
    if (asked !== undefined && nowMs - asked < o.quietMs) continue;
    const seen = newestFailed.get(d.guid);
    if (!seen || Date.parse(seen.deliveredAt) < at) newestFailed.set(d.guid, d);
  }
  return [...newestFailed.values()].sort((a, b) => Date.parse(a.deliveredAt) - Date.parse(b.deliveredAt));
}

/**
 * Where the next walk back through the deliveries may stop: the newest attempt seen, less an
 * overlap (an attempt is listed once it finished, up to GitHub's 10 s timeout after it began,
 * so a slow one can appear behind a newer one). An incomplete walk (the page cap was reached)
 * moves on too: otherwise every pass would read the same newest pages again; the caller logs
 * how far back it got, and older failures are left to the stale-job checks.
 */
export function nextCheckpoint(prevMs: number, rows: readonly HookDelivery[], overlapMs = 5 * 60_000): number {
  let newest = prevMs;
  for (const d of rows) {
    const at = Date.parse(d.deliveredAt);
    if (Number.isFinite(at) && at - overlapMs > newest) newest = at - overlapMs;
  }
  return newest;
}

export function redeliveredEvent(d: HookDelivery, nowIso: string): DomainEvent {
  const what = `${d.event}${d.action ? `.${d.action}` : ""}`;
  return {
    type: "DeliveryRedelivered",
    data: {
      provider: "github",
      deliveryId: d.id.slice(0, 64),
      guid: d.guid.slice(0, 64),
      event: d.event.slice(0, 64),
      ...(d.action ? { action: d.action.slice(0, 64) } : {}),
      statusCode: d.statusCode,
      deliveredAt: d.deliveredAt.slice(0, 64),
      reason:
        `GET /app/hook/deliveries: ${what} attempt ${d.id} at ${d.deliveredAt} failed (${d.statusCode || "no answer"}) and no attempt of ${d.guid} succeeded; POST /app/hook/deliveries/${d.id}/attempts at ${nowIso}`.slice(
          0,
          512,
        ),
    },
  };
}
