import { chmod, chown, link, mkdir, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { chrootFiles, type ChrootFile, type ChrootLayout } from "./chroot-layout.js";
import { cowCopyRaw } from "./cow-copy.js";

export interface Owner {
  uid: number;
  gid: number;
}

/**
 * Builds a VM's chroot before the jailer runs: the root, `/run` for the API socket, the log
 * file, and every file the VM opens. Idempotent: a half-built chroot from a crash is redone.
 * Returns how each file got there (for the one log line).
 */
export async function prepareChroot(l: ChrootLayout, owner: Owner): Promise<Record<string, "link" | "copy">> {
  await mkdir(l.root, { recursive: true, mode: 0o755 });
  for (const d of l.dirs) {
    await mkdir(d.onHost, { recursive: true, mode: 0o750 });
    await chown(d.onHost, owner.uid, owner.gid);
  }
  await writeFile(l.log.onHost, "", { mode: 0o600 });
  await chown(l.log.onHost, owner.uid, owner.gid);
  const how: Record<string, "link" | "copy"> = {};
  for (const f of chrootFiles(l)) how[f.inChroot] = await placeFile(f, owner);
  return how;
}

/**
 * Puts one file into the chroot: a hard link when on the same filesystem (free), else a copy
 * (reflink or sparse). A VM's own files become the VM's uid's; a shared file is linked only
 * when anyone may read it, else copied (and that copy chowned), never chowned in place.
 */
export async function placeFile(f: ChrootFile, owner: Owner): Promise<"link" | "copy"> {
  await rm(f.onHost, { force: true });
  const worldReadable = ((await stat(f.from)).mode & 0o004) !== 0;
  if (!f.shared || worldReadable) {
    try {
      await link(f.from, f.onHost);
      if (!f.shared) await chown(f.onHost, owner.uid, owner.gid);
      return "link";
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EXDEV" && (e as NodeJS.ErrnoException).code !== "EPERM") throw e;
    }
  }
  await cowCopyRaw(f.from, f.onHost);
  await chmod(f.onHost, f.shared ? 0o400 : 0o600);
  await chown(f.onHost, owner.uid, owner.gid);
  return "copy";
}

/**
 * Removes a VM's chroot (the jailer never does) and, when given, the cgroup the jailer made
 * for it (an empty directory once the VM's processes are gone). Idempotent.
 */
export async function removeChroot(l: Pick<ChrootLayout, "jailDir" | "jailId">, cgroupParentDir?: string): Promise<void> {
  await rm(l.jailDir, { recursive: true, force: true });
  if (cgroupParentDir) {
    await rmdir(join(cgroupParentDir, l.jailId)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "ENOENT") throw e;
    });
  }
}
