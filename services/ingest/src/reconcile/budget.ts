/**
 * The reconciler's call budget per provider key (a GitHub installation, the App itself, the
 * GitLab token). Pure: every method takes the time. Two token buckets, both below GitHub's
 * documented limits: an hourly one (core: 5,000 requests/h per installation) and a points one
 * (secondary: ~900 points/min, GET 1 point, POST/DELETE 5). A provider's own word wins: a
 * `retry-after` or an exhausted `x-ratelimit-remaining` blocks the key until then.
 */
export interface BudgetLimits {
  requestsPerHour: number;
  pointsPerMinute: number;
}

interface Key {
  hourly: number;
  points: number;
  at: number;
  blockedUntil: number;
}

export const pointsOf = (method: string) => (method === "GET" || method === "HEAD" ? 1 : 5);

export class CallBudget {
  private readonly keys = new Map<string, Key>();
  /**
   * The hourly bucket holds a tenth of the hour and refills the rest over the hour, so no
   * window of an hour (GitHub counts fixed hours) sees more than `requestsPerHour`:
   * burst + refill·1 h = limit. The points bucket is GitHub's per-minute limit as such.
   */
  private readonly burst: number;
  private readonly hourlyRefillPerMs: number;
  constructor(private readonly limits: BudgetLimits) {
    this.burst = Math.max(1, Math.floor(limits.requestsPerHour / 10));
    this.hourlyRefillPerMs = (limits.requestsPerHour - this.burst) / 3600_000;
  }

  /** Takes one request of `points` now, or says how long (ms) to wait before one fits. */
  take(key: string, points: number, nowMs: number): { ok: true } | { ok: false; waitMs: number; why: string } {
    const k = this.refill(key, nowMs);
    if (k.blockedUntil > nowMs) return { ok: false, waitMs: k.blockedUntil - nowMs, why: "the provider asked us to wait" };
    const hourlyWait = k.hourly >= 1 ? 0 : (1 - k.hourly) / this.hourlyRefillPerMs;
    const pointsWait = k.points >= points ? 0 : ((points - k.points) * 60_000) / this.limits.pointsPerMinute;
    if (hourlyWait > 0 || pointsWait > 0) {
      return {
        ok: false,
        waitMs: Math.ceil(Math.max(hourlyWait, pointsWait)),
        why: hourlyWait >= pointsWait ? "hourly budget spent" : "per-minute points spent",
      };
    }
    k.hourly -= 1;
    k.points -= points;
    return { ok: true };
  }

  /** `retry-after`, or a rate-limit reset: no calls on this key until `untilMs`. */
  block(key: string, untilMs: number, nowMs: number): void {
    const k = this.refill(key, nowMs);
    k.blockedUntil = Math.max(k.blockedUntil, untilMs);
  }

  /** The provider's count of what is left this window caps ours (other clients share it). */
  observe(key: string, remaining: number, resetMs: number | undefined, nowMs: number): void {
    const k = this.refill(key, nowMs);
    k.hourly = Math.min(k.hourly, remaining);
    if (remaining <= 0 && resetMs !== undefined) k.blockedUntil = Math.max(k.blockedUntil, resetMs);
  }

  /** Requests that could be made now on this key (0 while blocked). */
  remaining(key: string, nowMs: number): number {
    const k = this.refill(key, nowMs);
    if (k.blockedUntil > nowMs) return 0;
    return Math.floor(Math.min(k.hourly, k.points));
  }

  private refill(key: string, nowMs: number): Key {
    let k = this.keys.get(key);
    if (!k) {
      k = { hourly: this.burst, points: this.limits.pointsPerMinute, at: nowMs, blockedUntil: 0 };
      this.keys.set(key, k);
    }
    const dt = Math.max(0, nowMs - k.at);
    k.hourly = Math.min(this.burst, k.hourly + dt * this.hourlyRefillPerMs);
    k.points = Math.min(this.limits.pointsPerMinute, k.points + (dt * this.limits.pointsPerMinute) / 60_000);
    k.at = nowMs;
    return k;
  }
}
