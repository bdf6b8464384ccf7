import { spawn } from "node:child_process";
import { open, rm } from "node:fs/promises";

const CHUNK = 1 << 20;

/**
 * Copies a raw disk as cheaply as the filesystem allows: a reflink (btrfs, XFS) via
 * `cp --reflink=auto --sparse=always`, else a sparse copy; without `cp`, the sparse copy below.
 * `dst` is replaced.
 */
export async function cowCopyRaw(src: string, dst: string, cp = "cp"): Promise<void> {
  await rm(dst, { force: true });
  const ok = await new Promise<boolean>((resolve) => {
    const p = spawn(cp, ["--reflink=auto", "--sparse=always", "--", src, dst], { stdio: "ignore" });
    p.once("error", () => resolve(false));
    p.once("close", (code) => resolve(code === 0));
  });
  if (!ok) {
    await rm(dst, { force: true });
    await sparseCopy(src, dst);
  }
}

/**
 * A copy that leaves holes where the source reads as zeros (1 MiB granularity): a 10 GiB
 * mostly-empty root disk costs what it holds, not 10 GiB.
 */
export async function sparseCopy(src: string, dst: string): Promise<void> {
  const from = await open(src, "r");
  const to = await open(dst, "wx", 0o600);
  try {
    const { size } = await from.stat();
    const buf = Buffer.alloc(CHUNK);
    for (let pos = 0; pos < size;) {
      const { bytesRead } = await from.read(buf, 0, CHUNK, pos);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      if (!isZero(chunk)) await to.write(chunk, 0, bytesRead, pos);
      pos += bytesRead;
    }
    await to.truncate(size);
  } finally {
    await from.close();
    await to.close();
  }
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}
