import { describe, expect, it } from "vitest";
import { CallBudget, pointsOf } from "./budget.js";

describe("CallBudget", () => {
  const limits = { requestsPerHour: 4000, pointsPerMinute: 600 };
  it.each<[string, string, number]>([
    ["GET", "GET", 1],
    ["POST", "POST", 5],
    ["DELETE", "DELETE", 5],
  ])("%s costs %s points", (_n, m, p) => expect(pointsOf(m)).toBe(p));

  it("spends the per-minute points first, and says how long until one fits", () => {
    const b = new CallBudget(limits);
    for (let i = 0; i < 120; i++) expect(b.take("k", 5, 0).ok).toBe(true);
    const r = b.take("k", 5, 0);
    expect(r).toMatchObject({ ok: false, why: "per-minute points spent" });
    expect(r.ok || r.waitMs).toBe(500); // 5 points at 10 points/s
    expect(b.take("k", 5, 500).ok).toBe(true);
  });

  it("the hourly bucket caps a long run below GitHub's 5,000/h", () => {
    const b = new CallBudget(limits);
    let calls = 0;
    for (let t = 0; t < 3600_000; t += 50) if (b.take("k", 1, t).ok) calls++;
    // A burst of 400 plus 3,600 refilled over the hour: 4,000 in any hour, as configured.
    expect(calls).toBeLessThanOrEqual(4000);
    expect(calls).toBeGreaterThan(3990);
  });

  it("a block (retry-after) stops the key, not the others", () => {
    const b = new CallBudget(limits);
    b.block("a", 30_000, 0);
    expect(b.take("a", 1, 10_000)).toMatchObject({ ok: false, waitMs: 20_000 });
    expect(b.remaining("a", 10_000)).toBe(0);
    expect(b.take("b", 1, 10_000).ok).toBe(true);
    expect(b.take("a", 1, 30_000).ok).toBe(true);
  });

  it("x-ratelimit-remaining caps ours; 0 blocks until the reset", () => {
    const b = new CallBudget(limits);
    b.observe("k", 3, 60_000, 0);
    expect(b.remaining("k", 0)).toBe(3);
    b.observe("k", 0, 60_000, 1);
    expect(b.take("k", 1, 1)).toMatchObject({ ok: false, waitMs: 59_999 });
    expect(b.take("k", 1, 60_000).ok).toBe(true);
  });
});
