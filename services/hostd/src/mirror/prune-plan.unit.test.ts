import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { lowWater, planPrune, type StoredBlob } from "./prune-plan.js";

const blob = (name: string, bytes: number, lastUsedMs: number): StoredBlob => ({ path: `/c/${name}/data`, digest: `sha256:${name}`, bytes, lastUsedMs });

describe("planPrune: which blobs go when the cache is over its cap", () => {
  const a = blob("a", 400, 1_000); // oldest
  const b = blob("b", 300, 2_000);
  const c = blob("c", 200, 3_000); // newest

  it("removes nothing at or under the cap", () => {
    expect(planPrune({ blobs: [a, b, c], totalBytes: 1000, capBytes: 1000, lowWaterBytes: 900 })).toEqual({ evict: [], bytesAfter: 1000 });
  });

  it("over the cap: the least recently used first, down to the low-water mark", () => {
    // 1100 > 1000: a (400) brings it to 700 <= 900, so b and c stay.
    expect(planPrune({ blobs: [c, a, b], totalBytes: 1100, capBytes: 1000, lowWaterBytes: 900 }).evict.map((x) => x.digest)).toEqual(["sha256:a"]);
    // 1500: a → 1100, b → 800.
    expect(planPrune({ blobs: [c, b, a], totalBytes: 1500, capBytes: 1000, lowWaterBytes: 900 })).toEqual({ evict: [a, b], bytesAfter: 800 });
  });

  it("equally old: the biggest first, then by path", () => {
    const x = blob("x", 100, 5),
      y = blob("y", 500, 5),
      z = blob("z", 100, 5);
    expect(planPrune({ blobs: [z, x, y], totalBytes: 800, capBytes: 100, lowWaterBytes: 0 }).evict.map((e) => e.digest)).toEqual([
      "sha256:y",
      "sha256:x",
      "sha256:z",
    ]);
  });

  it("what is not a blob alone over the cap: every blob goes, and the plan says what is left", () => {
    expect(planPrune({ blobs: [a], totalBytes: 2400, capBytes: 1000, lowWaterBytes: 900 })).toEqual({ evict: [a], bytesAfter: 2000 });
  });

  it("the low-water mark is 90% of the cap", () => {
    expect(lowWater(1000)).toBe(900);
    expect(lowWater(20 * 1024 ** 3)).toBe(Math.floor(0.9 * 20 * 1024 ** 3));
  });

  it("property: over the cap it ends at or under the low-water mark unless nothing is left, evicts the oldest, and never more than needed", () => {
    const arbBlobs = fc.uniqueArray(
      fc.record({
        name: fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 1, maxLength: 8 }),
        bytes: fc.integer({ min: 1, max: 10_000 }),
        t: fc.integer({ min: 0, max: 1e6 }),
      }),
      {
        selector: (r) => r.name,
        maxLength: 40,
      },
    );
    fc.assert(
      fc.property(arbBlobs, fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 1, max: 200_000 }), (raw, other, cap) => {
        const blobs = raw.map((r) => blob(r.name, r.bytes, r.t));
        const totalBytes = other + blobs.reduce((n, x) => n + x.bytes, 0);
        const low = lowWater(cap);
        const { evict, bytesAfter } = planPrune({ blobs, totalBytes, capBytes: cap, lowWaterBytes: low });
        expect(bytesAfter).toBe(totalBytes - evict.reduce((n, x) => n + x.bytes, 0));
        if (totalBytes <= cap) {
          expect(evict).toEqual([]);
          return;
        }
        if (evict.length < blobs.length) expect(bytesAfter).toBeLessThanOrEqual(low);
        // Without its last eviction it would still be over the mark: nothing removed that did not need to go.
        if (evict.length) expect(bytesAfter + evict.at(-1)!.bytes).toBeGreaterThan(low);
        const kept = blobs.filter((x) => !evict.includes(x));
        for (const e of evict) for (const k of kept) expect(e.lastUsedMs).toBeLessThanOrEqual(k.lastUsedMs);
      }),
    );
  });
});
