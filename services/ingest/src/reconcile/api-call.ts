import type { CallBudget } from "./budget.js";
import { pointsOf } from "./budget.js";
import { ReconcileApiError } from "./errors.js";
import type { ReconcileMetrics } from "./metrics.js";

export interface ApiRequest {
  provider: "github" | "gitlab";
  /** Budget key: `github:installation:<id>`, `github:app`, `gitlab`. */
  key: string;
  method: "GET" | "POST" | "DELETE";
  /** Path with ids, for the log and the reason (never a query token). */
  path: string;
  /** Path template, for the metric label (bounded cardinality). */
  endpoint: string;
  url: string;
  headers: Record<string, string>;
  body?: unknown;
}

export interface ApiResponse {
  status: number;
  json: unknown;
  headers: Headers;
}

export interface ApiCallerDeps {
  budget: CallBudget;
  metrics: ReconcileMetrics;
  /** Never more than this many requests in flight (GitHub's secondary limit counts concurrency too). */
  maxConcurrency: number;
  /** A wait longer than this (budget or retry-after) is not waited out: the call fails rate-limited and the next tick retries. */
  maxWaitMs: number;
  timeoutMs: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  fetch?: typeof fetch;
}

export type ApiCaller = (r: ApiRequest) => Promise<ApiResponse>;

/**
 * Every reconcile call goes through here: the budget is taken (or waited for, when the wait is
 * short), at most N are in flight, the status is counted, and the provider's rate-limit
 * headers feed the budget. A 429 (or a 403 that is a rate limit) blocks the key for
 * `retry-after` (or until `x-ratelimit-reset`) and is retried once that wait is short.
 */
export function apiCaller(d: ApiCallerDeps): ApiCaller {
  const now = d.now ?? Date.now;
  const sleep = d.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const doFetch = d.fetch ?? fetch;
  const gate = semaphore(d.maxConcurrency);
  const gauge = (r: ApiRequest) => d.metrics.budgetRemaining.set({ provider: r.provider }, d.budget.remaining(r.key, now()));

  return async (r) => {
    const call = `${r.method} ${r.path}`;
    for (let attempt = 0; attempt < 3; attempt++) {
      const slot = d.budget.take(r.key, pointsOf(r.method), now());
      if (!slot.ok) {
        gauge(r);
        if (slot.waitMs > d.maxWaitMs)
          throw new ReconcileApiError(r.provider, "rate-limited", call, 0, `not called: ${slot.why} for ${Math.ceil(slot.waitMs / 1000)} s more`, slot.waitMs);
        await sleep(slot.waitMs);
        attempt--; // waiting for the budget is not an attempt
        continue;
      }
      let res: Response;
      const release = await gate();
      try {
        res = await doFetch(r.url, {
          method: r.method,
          headers: {
            accept: "application/json",
            "user-agent": "oneshot-ingest-reconcile",
            ...r.headers,
            ...(r.body !== undefined ? { "content-type": "application/json" } : {}),
          },
          body: r.body !== undefined ? JSON.stringify(r.body) : undefined,
          signal: AbortSignal.timeout(d.timeoutMs),
        });
      } catch (e) {
        d.metrics.apiCalls.inc({ provider: r.provider, endpoint: r.endpoint, status: "0" });
        throw new ReconcileApiError(r.provider, "unavailable", call, 0, `no answer (${(e as Error).name})`, undefined, e);
      } finally {
        release();
      }
      d.metrics.apiCalls.inc({ provider: r.provider, endpoint: r.endpoint, status: String(res.status) });
      const limit = rateLimit(res.headers);
      if (limit.remaining !== undefined) d.budget.observe(r.key, limit.remaining, limit.resetMs, now());
      const json = res.status === 204 ? undefined : await res.json().catch(() => undefined);
      const limited = res.status === 429 || (res.status === 403 && (limit.retryAfterMs !== undefined || limit.remaining === 0));
      if (!limited) {
        gauge(r);
        return { status: res.status, json, headers: res.headers };
      }
      const waitMs = limit.retryAfterMs ?? (limit.resetMs !== undefined ? Math.max(1000, limit.resetMs - now()) : 60_000);
      d.budget.block(r.key, now() + waitMs, now());
      gauge(r);
      if (waitMs > d.maxWaitMs || attempt === 2)
        throw new ReconcileApiError(r.provider, "rate-limited", call, res.status, `rate limited (${res.status}), wait ${Math.ceil(waitMs / 1000)} s`, waitMs);
    }
    throw new ReconcileApiError(r.provider, "rate-limited", call, 429, "rate limited three times");
  };
}

/** GitHub's `x-ratelimit-*` and GitLab's `ratelimit-*` headers, and `retry-after` (seconds). */
export function rateLimit(h: Headers): { remaining?: number; resetMs?: number; retryAfterMs?: number } {
  const num = (n: string) => {
    const v = h.get(n);
    const x = v === null ? NaN : Number(v);
    return Number.isFinite(x) ? x : undefined;
  };
  const remaining = num("x-ratelimit-remaining") ?? num("ratelimit-remaining");
  const reset = num("x-ratelimit-reset") ?? num("ratelimit-reset");
  const after = num("retry-after");
  return {
    ...(remaining !== undefined ? { remaining } : {}),
    ...(reset !== undefined ? { resetMs: reset * 1000 } : {}),
    ...(after !== undefined && after >= 0 ? { retryAfterMs: Math.ceil(after) * 1000 } : {}),
  };
}

/** At most `n` holders at once; `await gate()` gives the release function. */
export function semaphore(n: number): () => Promise<() => void> {
  let active = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    active--;
    waiting.shift()?.();
  };
  return async () => {
    while (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    return release;
  };
}
