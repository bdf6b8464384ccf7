import type { Provider } from "@oneshot/proto";
import type { JobView, ReconcileState } from "./projection.js";

export interface StaleOptions {
  /** A job queued or started this long ago (ms) without news is asked about. */
  staleAfterMs: number;
  /** …at most once per this long (ms) per job. */
  intervalMs: number;
  /** At most this many jobs per tick (the call budget decides how far a tick gets anyway). */
  maxPerTick: number;
  /** Whether ingest can ask this provider (an App / a token is configured). */
  hasApi: (p: Provider) => boolean;
}

/**
 * The jobs to ask the provider about now, least recently checked first, then oldest first.
 * A queued job is stale when its `queued` is older than `staleAfterMs` (its in_progress may be
 * lost), a started one when its start is (its completed may be lost). Pure: `nowMs` and the
 * last check times are inputs; the caller records a check once it was made.
 */
export function staleJobs(s: ReconcileState, nowMs: number, lastChecked: ReadonlyMap<string, number>, o: StaleOptions): JobView[] {
  const due: JobView[] = [];
  for (const j of s.jobs.values()) {
    if (!j.source || !o.hasApi(j.source.provider)) continue;
    const since = j.state === "queued" ? j.queuedAt : j.state === "started" ? j.startedAt : undefined;
    if (since === undefined || nowMs - since < o.staleAfterMs) continue;
    const checked = lastChecked.get(j.jobId);
    // A long-running job is asked about less often (every quarter of its run so far), so an
    // hour-long job costs ~11 calls, not ~28; a lost `completed` is found within 25 % of its run.
    const every = j.state === "started" ? Math.max(o.intervalMs, (nowMs - since) / 4) : o.intervalMs;
    if (checked !== undefined && nowMs - checked < every) continue;
    due.push(j);
  }
  const key = (j: JobView) => lastChecked.get(j.jobId) ?? -Infinity;
  due.sort((a, b) => key(a) - key(b) || (a.startedAt ?? a.queuedAt ?? 0) - (b.startedAt ?? b.queuedAt ?? 0));
  return due.slice(0, o.maxPerTick);
}
