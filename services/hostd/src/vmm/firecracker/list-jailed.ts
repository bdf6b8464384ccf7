import { readFile, readdir, readlink } from "node:fs/promises";
import { dirname, join, sep } from "node:path";
import { DEFAULT_JAIL_DIR } from "./chroot-layout.js";
import { vmIdOfCmdline } from "./ids.js";

export interface JailedProcess {
  vmId: string;
  pid: number;
  runDir?: string;
  argv: string[];
}

/**
 * The run dir of a jailed VM whose chroot is under the default base (`<runDir>/fc-jail/...`),
 * from its chroot path (pure): `<runDir>/fc-jail/<exec>/<id>/root`.
 */
export function runDirOfChroot(chrootRoot: string): string | undefined {
  const parts = chrootRoot.split(sep);
  if (parts.length < 6 || parts.at(-1) !== "root" || parts.at(-4) !== DEFAULT_JAIL_DIR) return undefined;
  return parts.slice(0, -4).join(sep) || undefined;
}

/**
 * Processes of ours: any whose command line has `--id oneshot-<vmId>` (the jailer before its
 * exec, Firecracker after). The run dir comes from the process's root (`/proc/PID/root` is the
 * chroot once jailed) or, before the chroot, the jailer's `--chroot-base-dir`.
 */
export async function listJailed(procDir = "/proc"): Promise<JailedProcess[]> {
  const out: JailedProcess[] = [];
  for (const entry of await readdir(procDir).catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const raw = await readFile(join(procDir, entry, "cmdline")).catch(() => undefined);
    if (!raw?.length) continue;
    const argv = raw.toString().split("\0").filter(Boolean);
    const vmId = vmIdOfCmdline(argv);
    if (!vmId) continue;
    const root = await readlink(join(procDir, entry, "root")).catch(() => undefined);
    const base = argv.indexOf("--chroot-base-dir");
    const fromBase = base >= 0 && argv[base + 1]?.endsWith(`${sep}${DEFAULT_JAIL_DIR}`) ? dirname(argv[base + 1]!) : undefined;
    const runDir = (root ? runDirOfChroot(root) : undefined) ?? fromBase;
    out.push({ vmId, pid: Number(entry), argv, ...(runDir ? { runDir } : {}) });
  }
  return out;
}
