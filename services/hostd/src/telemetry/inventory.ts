import { readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { HostInventory, ObservedVm } from "@oneshot/proto";
import type { LinkInfo, Links } from "../net/links.js";
import type { Nft } from "../net/nft.js";
import { DISK_FILE, listRunDirs, readRecord, runDirOf, vmsDir, type VmRecord } from "../vm/run-dir.js";
import type { VmmDriver } from "../vmm/port.js";

/** What the machine shows, before deciding what of it is this host's (input of `assembleInventory`). */
export interface RawInventory {
  hostId: string;
  bridge: string;
  /** The VMs' run dirs root (`<state>/hostd/vms`): a process whose run dir is elsewhere belongs to another hostd. */
  vmsDir: string;
  processes: { vmId: string; pid: number; runDir?: string }[];
  links: LinkInfo[];
  /** Run dirs by VM id: their record (undefined when unreadable) and the files in them. */
  runDirs: { vmId: string; path: string; record: VmRecord | undefined; files: string[] }[];
  nftComments: string[];
}

/**
 * HostInventory from what is on the machine (pure). Everything with oneshot's naming counts,
 * whoever created it, except what a run dir says belongs to ANOTHER hostd on this machine
 * (a native and an emulated-arch hostd may share one): its taps are on its own bridge, its
 * processes and run dirs are its own, and so is a VMM whose run dir is under another state dir.
 * An `os-*` tap on no bridge, or a VMM with no run dir at all, is reported by everyone.
 */
export function assembleInventory(raw: RawInventory): HostInventory["data"] {
  const foreign = new Set(raw.runDirs.filter((r) => r.record && r.record.hostId !== raw.hostId).map((r) => r.vmId));
  const mine = raw.runDirs.filter((r) => !foreign.has(r.vmId));
  const byVm = new Map(mine.map((r) => [r.vmId, r.record]));
  const elsewhere = (p: { runDir?: string }) => p.runDir !== undefined && dirname(p.runDir) !== raw.vmsDir;
  const vms: ObservedVm[] = raw.processes
    .filter((p) => !foreign.has(p.vmId) && !elsewhere(p))
    .map((p) => {
      const rec = byVm.get(p.vmId);
      return { vmId: p.vmId, pid: p.pid, ...(rec ? { jobId: rec.jobId } : {}), ...(rec?.startedAt ? { startedAt: rec.startedAt } : {}) };
    });
  const taps = raw.links
    .filter((l) => /^os-[a-z0-9]{1,12}$/.test(l.name) && (l.master === raw.bridge || !l.master) && !foreign.has(l.name.slice(3)))
    .map((l) => l.name);
  const disks = mine.flatMap((r) => r.files.filter((f) => DISK_FILE.test(f)).map((f) => join(r.path, f)));
  return {
    hostId: raw.hostId,
    vms: vms.slice(0, 1024),
    taps: taps.sort().slice(0, 4096),
    disks: disks.sort().slice(0, 4096),
    nftRules: raw.nftComments.slice(0, 4096),
    runDirs: mine
      .map((r) => r.path)
      .sort()
      .slice(0, 4096),
  };
}

/** Reads the machine (processes, links, run dirs, nft rules) for `assembleInventory`. */
export async function scanMachine(o: { hostId: string; bridge: string; stateDir: string; driver: VmmDriver; links: Links; nft: Nft }): Promise<RawInventory> {
  const runDirs = await Promise.all(
    (await listRunDirs(o.stateDir)).map(async (vmId) => {
      const path = runDirOf(o.stateDir, vmId);
      return { vmId, path, record: await readRecord(path), files: await readdir(path).catch(() => [] as string[]) };
    }),
  );
  const [processes, links, nftComments] = await Promise.all([o.driver.list(), o.links.list(), o.nft.vmComments(o.bridge)]);
  return { hostId: o.hostId, bridge: o.bridge, vmsDir: vmsDir(o.stateDir), processes, links, runDirs, nftComments };
}
