import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";

/** The real uids of all processes on this machine (from /proc/PID/status). */
export async function uidsInUse(procDir = "/proc"): Promise<Set<number>> {
  const uids = new Set<number>();
  for (const entry of await readdir(procDir).catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(join(procDir, entry, "status"), "utf8").catch(() => "");
    const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
    if (uid !== undefined) uids.add(Number(uid));
  }
  return uids;
}
