import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { WarmPoolsEnv } from "../config.js";
import { poolReservation } from "../agent/warm-pool.js";
import { createJobDrive, fillJobDrive, JOB_DRIVE_BYTES, ustar } from "./job-drive.js";
import { HandOverTrace } from "./warm-runner.js";

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

describe("job drive fill (docs/warm-pool.md)", () => {
  it("writes the archive padded to whole blocks, a header with its length and sha256, and grows by one block (the doorbell)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "job-drive-"));
    try {
      const path = join(dir, "job.raw");
      await createJobDrive(path);
      expect(readFileSync(path).subarray(0, 27).toString()).toBe("oneshot-job-drive-v1 empty\n");
      const files = { "job-id": { content: "j1\n", mode: 0o644 }, script: { content: "exit 0\n", mode: 0o644 } };
      const { bytes, size } = await fillJobDrive(path, files);
      const b = readFileSync(path);
      expect(size).toBe(JOB_DRIVE_BYTES + 4096);
      expect(statSync(path).size).toBe(size);
      expect(bytes % 4096).toBe(0);
      const payload = b.subarray(4096, 4096 + bytes);
      const [magic, state, len, sha] = b.subarray(0, 4096).toString().split("\n")[0]!.split(" ");
      expect([magic, state, Number(len)]).toEqual(["oneshot-job-drive-v1", "ready", bytes]);
      expect(sha).toBe(createHash("sha256").update(payload).digest("hex"));
      expect(payload.subarray(0, ustar(files).length).equals(ustar(files))).toBe(true);
      expect(b.subarray(4096 + ustar(files).length).every((x) => x === 0)).toBe(true);
      expect(readTar(payload).map((e) => e.name)).toEqual(["oneshot/", "oneshot/job-id", "oneshot/script"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it("refuses a payload that does not fit", async () => {
    const dir = mkdtempSync(join(tmpdir(), "job-drive-"));
    try {
      const path = join(dir, "job.raw");
      await createJobDrive(path, 8192);
      await expect(fillJobDrive(path, { script: { content: "x".repeat(8192), mode: 0o644 } })).rejects.toThrow(/does not fit/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("hand-over trace", () => {
  it("takes the agent's line from before its ready marker and resolves at the start marker", async () => {
    const t = new HandOverTrace();
    t.push("[ 1.0] kernel line\r\noneshot: hand-over us read=10 erase=", false);
    t.push("20 unbind=30 extract=40 checks=50 mac=60\r\nONESHOT-AGENT-READY mac=ab\r\n", false);
    t.push("oneshot: hand-over us read=1\r\n", false);
    expect(t.guest).toEqual({ read: 10, erase: 20, unbind: 30, extract: 40, checks: 50, mac: 60 });
    t.push("ONESHOT-JOB-START kind=script mac=cd\r\n", true);
    await expect(t.started).resolves.toBeGreaterThan(0);
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
