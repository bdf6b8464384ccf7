import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { FAILURES_PER_MINUTE, Sessions, tokenMatches } from "./auth.js";

describe("admin token and sessions", () => {
  const token = "0123456789abcdef0123456789abcdef";

  it("matches only the exact token, whatever the guess's length", () => {
    const expected = createHash("sha256").update(token).digest();
    expect(tokenMatches(token, expected)).toBe(true);
    for (const guess of ["", "0", token.slice(0, -1), `${token}x`, token.toUpperCase()]) expect(tokenMatches(guess, expected)).toBe(false);
  });

  it("gives a session for the right token only, which lasts its TTL and ends at sign-out", () => {
    let now = 1_000;
    const s = new Sessions(token, 60_000, () => now);
    expect(s.enabled).toBe(true);
    expect(s.signIn("wrong")).toEqual({ ok: false, why: "wrong" });
    const r = s.signIn(token);
    if (!r.ok) throw new Error("refused the right token");
    const id = r.id;
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(s.valid(id)).toBe(true);
    expect(s.valid("forged")).toBe(false);
    expect(s.valid(undefined)).toBe(false);
    now += 60_000;
    expect(s.valid(id)).toBe(false);
    const again = s.signIn(token);
    if (!again.ok) throw new Error("refused the right token");
    s.signOut(again.id);
    expect(s.valid(again.id)).toBe(false);
  });

  it("makes an address that keeps guessing wait a minute, without locking out another", () => {
    let now = 0;
    const s = new Sessions(token, 60_000, () => now);
    for (let i = 0; i < FAILURES_PER_MINUTE; i++) expect(s.signIn(`guess-${i}`, "10.0.0.9")).toEqual({ ok: false, why: "wrong" });
    expect(s.signIn(token, "10.0.0.9")).toEqual({ ok: false, why: "wait" });
    expect(s.signIn(token, "10.0.0.1").ok).toBe(true);
    now += 60_000;
    expect(s.signIn(token, "10.0.0.9").ok).toBe(true);
  });

  it("lets nobody sign in when no token is configured", () => {
    const s = new Sessions(undefined, 60_000, () => 0);
    expect(s.enabled).toBe(false);
    expect(s.signIn("")).toEqual({ ok: false, why: "wrong" });
  });
});
