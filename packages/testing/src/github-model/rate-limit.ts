/**
 * GitHub's rate limits, small enough to be hit in a test: a primary budget per window (every
 * answer carries `x-ratelimit-limit/remaining/used/reset/resource`; when it is spent the answer
 * is 403 "API rate limit exceeded" with `x-ratelimit-remaining: 0`) and a secondary limit in
 * points per minute (GET 1 point, POST/PUT/PATCH/DELETE 5) answered 429 with `retry-after`.
 */
export interface RateLimitOptions {
  /** Primary budget per window (GitHub: 5,000/h for an installation). */
  limit?: number;
  windowMs?: number;
  /** Secondary limit: points per minute (GitHub: ~900). */
  pointsPerMinute?: number;
  /** `retry-after` seconds on a secondary-limit answer. */
  retryAfterS?: number;
  /** Status of a secondary-limit answer: GitHub answers 403 or 429. */
  secondaryStatus?: 403 | 429;
}

export type Verdict = { ok: true; headers: Record<string, string> } | { ok: false; status: number; headers: Record<string, string>; message: string };

export class RateLimiter {
  used = 0;
  primaryRefusals = 0;
  secondaryRefusals = 0;
  private windowStart = Date.now();
  private points: { t: number; p: number }[] = [];
  private forced: { status: number; times: number; retryAfterS: number }[] = [];

  constructor(public o: RateLimitOptions = {}) {}

  /** The next `times` calls are refused by the secondary limit (or with `status`). */
  throttleNext(times = 1, status: number = this.o.secondaryStatus ?? 429, retryAfterS = this.o.retryAfterS ?? 60): void {
    this.forced.push({ status, times, retryAfterS });
  }

  /** Spends the rest of the primary budget. */
  exhaust(): void {
    this.used = this.limit;
  }

  get limit(): number {
    return this.o.limit ?? 5000;
  }

  check(method: string): Verdict {
    const now = Date.now();
    const windowMs = this.o.windowMs ?? 3600_000;
    if (now - this.windowStart >= windowMs) {
      this.windowStart = now;
      this.used = 0;
    }
    const reset = Math.ceil((this.windowStart + windowMs) / 1000);
    const headers = (used: number) => ({
      "x-ratelimit-limit": String(this.limit),
      "x-ratelimit-remaining": String(Math.max(0, this.limit - used)),
      "x-ratelimit-used": String(used),
      "x-ratelimit-reset": String(reset),
      "x-ratelimit-resource": "core",
    });
    const f = this.forced.find((x) => x.times > 0);
    if (f) {
      f.times--;
      this.secondaryRefusals++;
      return {
        ok: false,
        status: f.status,
        headers: { ...headers(this.used), "retry-after": String(f.retryAfterS) },
        message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
      };
    }
    if (this.used >= this.limit) {
      this.primaryRefusals++;
      return {
        ok: false,
        status: 403,
        headers: headers(this.used),
        message: "API rate limit exceeded for installation. If you reach out to GitHub Support for help, please include the request ID.",
      };
    }
    if (this.o.pointsPerMinute !== undefined) {
      this.points = this.points.filter((x) => now - x.t < 60_000);
      const cost = method === "GET" || method === "HEAD" ? 1 : 5;
      const spent = this.points.reduce((a, x) => a + x.p, 0);
      if (spent + cost > this.o.pointsPerMinute) {
        this.secondaryRefusals++;
        const oldest = this.points[0]?.t ?? now;
        const retryAfterS = this.o.retryAfterS ?? Math.max(1, Math.ceil((oldest + 60_000 - now) / 1000));
        return {
          ok: false,
          status: this.o.secondaryStatus ?? 429,
          headers: { ...headers(this.used), "retry-after": String(retryAfterS) },
          message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        };
      }
      this.points.push({ t: now, p: cost });
    }
    this.used++;
    return { ok: true, headers: headers(this.used) };
  }
}
