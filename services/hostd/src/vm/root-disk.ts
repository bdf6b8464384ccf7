import { rename, rm, stat } from "node:fs/promises";
import { run, type Exec } from "../host/exec.js";

const GiB = 1024 ** 3;

/**
 * The VM's own copy-on-write root disk from the read-only base image.
 *  - qcow2 (QEMU): an overlay backed by the raw base (`qemu-img create -b base -F raw`), a few ms;
 *  - raw (Firecracker): a reflink copy where the filesystem can (btrfs, XFS), else a sparse copy.
 * The disk is at least `diskGiB` (never smaller than the base). Written under a temporary
 * name and renamed, so a disk that exists is complete: measure = "does it exist".
 */
export async function ensureRootDisk(exec: Exec, o: { base: string; path: string; format: "qcow2" | "raw"; diskGiB: number }): Promise<"present" | "created"> {
  if (
    await stat(o.path).then(
      () => true,
      () => false,
    )
  )
    return "present";
  const baseBytes = (await stat(o.base)).size;
  const bytes = Math.max(baseBytes, o.diskGiB * GiB);
  const tmp = `${o.path}.tmp`;
  await rm(tmp, { force: true });
  if (o.format === "qcow2") {
    await run(exec, "qemu-img", ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", o.base, tmp, String(bytes)]);
  } else {
    await run(exec, "cp", ["--reflink=auto", "--sparse=always", o.base, tmp]);
    await run(exec, "truncate", ["-s", String(bytes), tmp]);
  }
  await rename(tmp, o.path);
  return "created";
}
