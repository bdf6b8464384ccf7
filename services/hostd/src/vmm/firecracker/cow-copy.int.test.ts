import { mkdtemp, open, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cowCopyRaw, sparseCopy } from "./cow-copy.js";

const SIZE = 64 * 1024 * 1024;

describe("raw disk copies stay sparse", () => {
  let dir: string;
  let src: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "oneshot-fc-cow-"));
    src = join(dir, "base.raw");
    // A 64 MiB disk holding 2 small extents: the rest is a hole.
    const f = await open(src, "w");
    await f.write(Buffer.from("superblock"), 0, 10, 0);
    await f.write(Buffer.from("tail"), 0, 4, SIZE - 4);
    await f.close();
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const allocated = async (p: string) => (await stat(p)).blocks * 512;

  it("the fallback copy (no cp) keeps the holes and the bytes", async () => {
    expect(await allocated(src)).toBeLessThan(1024 * 1024); // the filesystem here has holes at all
    const dst = join(dir, "fallback.raw");
    await sparseCopy(src, dst);
    expect((await stat(dst)).size).toBe(SIZE);
    expect(await allocated(dst)).toBeLessThan(4 * 1024 * 1024);
    expect((await readFile(dst)).equals(await readFile(src))).toBe(true);
  });

  it("cowCopyRaw falls back to it when cp cannot run, and replaces an existing target", async () => {
    const dst = join(dir, "vm.raw");
    await sparseCopy(src, dst);
    await cowCopyRaw(src, dst, join(dir, "no-such-cp"));
    expect(await allocated(dst)).toBeLessThan(4 * 1024 * 1024);
    expect((await readFile(dst)).equals(await readFile(src))).toBe(true);
  });

  it("cowCopyRaw with the system cp (reflink where the filesystem can) is sparse too", async () => {
    const dst = join(dir, "cp.raw");
    await cowCopyRaw(src, dst);
    expect(await allocated(dst)).toBeLessThan(4 * 1024 * 1024);
    expect((await readFile(dst)).equals(await readFile(src))).toBe(true);
  });
});
