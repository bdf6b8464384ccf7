import { statfs } from "node:fs/promises";
import { availableParallelism, totalmem } from "node:os";
import type { Resources } from "@oneshot/proto";

export interface MachineFacts {
  cpus: number;
  memMiB: number;
  /** Free space where VM disks go. */
  diskFreeGiB: number;
}

export interface CapacityConfig {
  reserveVcpus: number;
  reserveMemMiB: number;
  reserveDiskGiB: number;
  maxVcpus?: number | undefined;
  maxMemMiB?: number | undefined;
  maxDiskGiB?: number | undefined;
  /** The VMM's own memory beside each guest's RAM (VmmDriver.memOverheadMiB). */
  vmmOverheadMiB?: number | undefined;
  /** VMs running at once (HOSTD_MAX_CONCURRENT_VMS): how many VMM overheads can be resident together. */
  maxConcurrentVms?: number | undefined;
}

/**
 * What the scheduler may hand out: the machine minus the host's reserve and the memory of the
 * VMMs themselves (never below a minimum), or the operator's override (which replaces the
 * computed value: tests use small fake capacities). The scheduler counts guest RAM only, so
 * the VMMs' overhead is taken off here: at most `maxConcurrentVms` VMMs run at once (hostd
 * queues the rest), and each VM's cgroup `memory.max` is its RAM plus one overhead, so the
 * host keeps its reserve even when every VM touches all of its memory.
 */
export function computeCapacity(m: MachineFacts, c: CapacityConfig): Resources {
  const vmmMiB = (c.vmmOverheadMiB ?? 0) * (c.maxConcurrentVms ?? 0);
  return {
    vcpus: c.maxVcpus ?? Math.max(1, m.cpus - c.reserveVcpus),
    memMiB: c.maxMemMiB ?? Math.max(256, m.memMiB - c.reserveMemMiB - vmmMiB),
    diskGiB: c.maxDiskGiB ?? Math.max(1, Math.floor(m.diskFreeGiB - c.reserveDiskGiB)),
  };
}

/** The machine as it is now: CPUs, RAM, free disk under `diskDir`. */
export async function machineFacts(diskDir: string): Promise<MachineFacts> {
  const fs = await statfs(diskDir);
  return {
    cpus: availableParallelism(),
    memMiB: Math.floor(totalmem() / (1024 * 1024)),
    diskFreeGiB: (fs.bavail * fs.bsize) / 1024 ** 3,
  };
}
