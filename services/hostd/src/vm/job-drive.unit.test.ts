import { describe, expect, it } from "vitest";
import { WarmPoolsEnv } from "../config.js";
import { poolReservation } from "../agent/warm-pool.js";
import { ustar } from "./job-drive.js";

/** Entries of a ustar archive (name, mode, type, body): an independent reader of what `ustar` writes. */
function readTar(b: Buffer): { name: string; mode: number; type: string; body: string }[] {
  const out: { name: string; mode: number; type: string; body: string }[] = [];
  for (let at = 0; at + 512 <= b.length;) {
    const h = b.subarray(at, at + 512);
    if (h.every((x) => x === 0)) break;
    const field = (o: number, n: number) =>
      h
        .subarray(o, o + n)
        .toString("latin1")
        .replace(/\0.*$/s, "");
    const sum = [...h].reduce((s, x, i) => s + (i >= 148 && i < 156 ? 32 : x), 0);
    expect(parseInt(field(148, 8), 8)).toBe(sum);
    expect(field(257, 6)).toBe("ustar");
    const size = parseInt(field(124, 12), 8);
    out.push({ name: field(0, 100), mode: parseInt(field(100, 8), 8), type: field(156, 1), body: b.subarray(at + 512, at + 512 + size).toString() });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

describe("job drive archive (docs/warm-pool.md)", () => {
  it("holds every file under oneshot/ with its mode, its directories first, and ends with two zero blocks", () => {
    const b = ustar({ "job-id": { content: "j1\n", mode: 0o644 }, "launch/env": { content: "TOKEN=s3cret\n", mode: 0o600 } });
    expect(b.length % 512).toBe(0);
    expect(b.subarray(-1024).every((x) => x === 0)).toBe(true);
    expect(readTar(b)).toEqual([
      { name: "oneshot/", mode: 0o755, type: "5", body: "" },
      { name: "oneshot/launch/", mode: 0o755, type: "5", body: "" },
      { name: "oneshot/job-id", mode: 0o644, type: "0", body: "j1\n" },
      { name: "oneshot/launch/env", mode: 0o600, type: "0", body: "TOKEN=s3cret\n" },
    ]);
  });
});

describe("HOSTD_WARM_POOLS", () => {
  it("parses image/vcpus/memMiB/diskGiB=count lists and what they hold", () => {
    const pools = WarmPoolsEnv.parse("minimal/1/512/1=2, full/4/8192/20=1,minimal/2/1024/10=0");
    expect(pools).toEqual([
      { image: "minimal", vcpus: 1, memMiB: 512, diskGiB: 1, size: 2 },
      { image: "full", vcpus: 4, memMiB: 8192, diskGiB: 20, size: 1 },
    ]);
    expect(poolReservation(pools.map((p) => ({ shape: { arch: "amd64", ...p }, size: p.size })))).toEqual({ vcpus: 6, memMiB: 9216, diskGiB: 22 });
    expect(WarmPoolsEnv.parse("")).toEqual([]);
  });
  it("refuses what is not a pool, naming it", () => {
    const r = WarmPoolsEnv.safeParse("minimal/1/512=2");
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain("minimal/1/512=2");
  });
});
