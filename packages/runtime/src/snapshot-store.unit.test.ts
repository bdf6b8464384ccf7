import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { retain, type SnapshotHead } from "./snapshot-store.js";

const head = (seq: number): SnapshotHead => ({
  seq,
  schema: 1,
  code: "c",
  chunks: 1,
  bytes: 1,
  sha256: "x",
  writtenAt: "",
  logTime: new Date(seq).toISOString(),
});

// What the history keeps as snapshots keep coming: the newest ones, a bounded count, and for
// any older moment one not much further back than that moment is from the newest.
describe("snapshot history (retain)", () => {
  it("keeps the newest three, at most 40, and a snapshot within twice any distance back", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 0, max: 100 }), (gaps, probe) => {
        let kept: SnapshotHead[] = [];
        let seq = 0;
        const all: number[] = [];
        for (const g of gaps) {
          seq += g;
          all.push(seq);
          kept = retain([head(seq), ...kept]);
        }
        expect(kept.length).toBeLessThanOrEqual(40);
        expect(kept.slice(0, 3).map((h) => h.seq)).toEqual(all.slice(-3).reverse());
        expect(kept.map((h) => h.seq)).toEqual([...kept.map((h) => h.seq)].sort((a, b) => b - a));
        // The oldest one is never dropped: a moment before every other still finds it.
        expect(kept.at(-1)!.seq).toBe(all[0]);
        // For a moment d back from the newest, the newest kept snapshot at or before it is at most ~2d back (plus one gap).
        const target = all[Math.floor((probe / 100) * (all.length - 1))]!;
        const d = seq - target;
        const best = kept.find((h) => h.seq <= target)!;
        expect(seq - best.seq).toBeLessThanOrEqual(2 * d + 2 * Math.max(...gaps));
      }),
      { numRuns: 200 },
    );
  });
});
