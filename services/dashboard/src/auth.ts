import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();

/**
 * Whether `given` is the admin token. Both sides are hashed first, so the comparison takes the
 * same time whatever the length or the first differing byte of the guess.
 */
export function tokenMatches(given: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(given), expected);
}

/**
 * Operator sessions: a random id in an HttpOnly, SameSite=Strict cookie, valid `ttlMs`. The
 * token itself is held only as its SHA-256 and is never logged or echoed.
 */
export class Sessions {
  private readonly expected: Buffer | undefined;
  private readonly live = new Map<string, number>();

  constructor(token: string | undefined, private readonly ttlMs: number, private readonly clock: () => number) {
    this.expected = token ? digest(token) : undefined;
  }

  /** False when no admin token is configured: nobody can sign in, the dashboard stays read-only. */
  get enabled(): boolean {
    return this.expected !== undefined;
  }

  /** A new session id for the right token, else undefined. */
  signIn(token: string): string | undefined {
    if (!this.expected || !tokenMatches(token, this.expected)) return undefined;
    const id = randomBytes(32).toString("base64url");
    this.live.set(id, this.clock() + this.ttlMs);
    return id;
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
