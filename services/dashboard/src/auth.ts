import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();

/**
 * Whether `given` is the admin token. Both sides are hashed first, so the comparison takes the
 * same time whatever the length or the first differing byte of the guess.
 */
export function tokenMatches(given: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(given), expected);
}

/** Failed sign-ins one address may make per minute before it is told to wait. */
export const FAILURES_PER_MINUTE = 10;

export type SignIn = { ok: true; id: string } | { ok: false; why: "wrong" | "wait" };

/**
 * Operator sessions: a random id in an HttpOnly, SameSite=Strict cookie, valid `ttlMs`. The
 * token itself is held only as its SHA-256 and is never logged or echoed. An address that got
 * the token wrong FAILURES_PER_MINUTE times waits for the minute to end, right token or not.
 */
export class Sessions {
  private readonly expected: Buffer | undefined;
  private readonly live = new Map<string, number>();
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(
    token: string | undefined,
    private readonly ttlMs: number,
    private readonly clock: () => number,
  ) {
    this.expected = token ? digest(token) : undefined;
  }

  /** False when no admin token is configured: nobody can sign in, the dashboard stays read-only. */
  get enabled(): boolean {
    return this.expected !== undefined;
  }

  /** A new session id for the right token from `from` (the client's address). */
  signIn(token: string, from = ""): SignIn {
    const now = this.clock();
    let f = this.failures.get(from);
    if (f && now - f.since >= 60_000) {
      this.failures.delete(from);
      f = undefined;
    }
    if (f && f.count >= FAILURES_PER_MINUTE) return { ok: false, why: "wait" };
    if (!this.expected || !tokenMatches(token, this.expected)) {
      if (this.failures.size > 10_000) this.failures.clear(); // bounded: many addresses only reset the count
      this.failures.set(from, { count: (f?.count ?? 0) + 1, since: f?.since ?? now });
      return { ok: false, why: "wrong" };
    }
    const id = randomBytes(32).toString("base64url");
    this.live.set(id, now + this.ttlMs);
    return { ok: true, id };
  }

  valid(id: string | undefined): boolean {
    if (!id) return false;
    const until = this.live.get(id);
    if (until === undefined) return false;
    if (until <= this.clock()) {
      this.live.delete(id);
      return false;
    }
    return true;
  }

  signOut(id: string | undefined): void {
    if (id) this.live.delete(id);
  }
}
