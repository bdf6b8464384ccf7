import { lstat, readdir, rmdir, stat, unlink, utimes } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { StoredBlob } from "./prune-plan.js";

/** Where distribution's filesystem driver keeps a blob's bytes under a mirror's root directory. */
export function blobDataPath(storage: string, digest: string): string {
  const hex = digest.replace(/^sha256:/, "");
  return join(storage, "docker", "registry", "v2", "blobs", "sha256", hex.slice(0, 2), hex, "data");
}

/** An upload the registry has not committed yet: `repositories/<name>/_uploads/<uuid>/…` (a proxy's fetch in flight). */
const UPLOAD = /\/docker\/registry\/v2\/repositories\/.+\/_uploads\//;
const BLOB_DATA = /\/docker\/registry\/v2\/blobs\/sha256\/[0-9a-f]{2}\/([0-9a-f]{64})\/data$/;
const gone = (e: unknown) => (e as NodeJS.ErrnoException).code === "ENOENT";

/**
 * What the cache takes on disk (allocated bytes of every file and directory under `dir`: all
 * mirrors, their metadata and unfinished uploads), how much of that is uploads in flight, and its
 * blobs with their last use. Files that vanish during the walk (the registry's own expiry, an
 * upload finishing) are skipped.
 */
export async function scanCache(dir: string): Promise<{ totalBytes: number; uploadBytes: number; blobs: StoredBlob[] }> {
  let totalBytes = 0;
  let uploadBytes = 0;
  const blobs: StoredBlob[] = [];
  const todo = [dir];
  while (todo.length) {
    const d = todo.pop()!;
    const entries = await readdir(d, { withFileTypes: true }).catch((e: unknown) => {
      if (gone(e)) return [];
      throw e;
    });
    for (const e of entries) {
      const p = join(d, e.name);
      const st = await lstat(p).catch((err: unknown) => {
        if (gone(err)) return undefined;
        throw err;
      });
      if (!st) continue;
      const bytes = st.blocks * 512;
      totalBytes += bytes;
      if (UPLOAD.test(p)) uploadBytes += bytes;
      if (st.isDirectory()) todo.push(p);
      else if (st.isFile()) {
        const m = BLOB_DATA.exec(p);
        if (m) blobs.push({ path: p, digest: `sha256:${m[1]}`, bytes, lastUsedMs: Math.max(st.atimeMs, st.mtimeMs) });
      }
    }
  }
  return { totalBytes, uploadBytes, blobs };
}

/**
 * Marks a blob used now (its atime; mtime stays its write time). Explicit, because relatime
 * updates atime on a read at most once a day, and noatime never. False when it is not stored
 * (yet: the registry stores what it fetched after it served it).
 */
export async function touchBlob(path: string, now: Date): Promise<boolean> {
  const st = await stat(path).catch(() => undefined);
  if (!st) return false;
  await utimes(path, now, st.mtime).catch(() => undefined);
  return true;
}

/**
 * Removes a blob's data file and its directory. A registry serving it meanwhile keeps reading
 * the open file; the next request for it is a miss and fetches it again (no descriptor cache:
 * mirror-config.ts). Already gone: fine.
 */
export async function removeBlob(path: string): Promise<void> {
  await unlink(path).catch((e: unknown) => {
    if (!gone(e)) throw e;
  });
  await rmdir(dirname(path)).catch(() => undefined);
}
