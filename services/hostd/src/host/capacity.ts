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
}

/**
 * What the scheduler may hand out: the machine minus the host's reserve (never below 1), or
 * the operator's override (which replaces the computed value: tests use small fake capacities).
 */
export function computeCapacity(m: MachineFacts, c: CapacityConfig): Resources {
  return {
    vcpus: c.maxVcpus ?? Math.max(1, m.cpus - c.reserveVcpus),
    memMiB: c.maxMemMiB ?? Math.max(256, m.memMiB - c.reserveMemMiB),
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
