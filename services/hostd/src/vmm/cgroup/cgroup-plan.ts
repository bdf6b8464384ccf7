/**
 * Where and how each VMM process is confined in cgroup v2 (pure). Every VMM gets a leaf of its
 * own, `<cgroup2 root>/<parent>/oneshot-<vmId>` (the Firecracker jailer's id, so both drivers
 * name leaves alike), with its vCPUs as CPU bandwidth and guest RAM plus the VMM's own
 * overhead as `memory.max`: a guest cannot take the host's CPU or memory from hostd or NATS,
 * and the OOM killer, when it must act, acts inside the VM's leaf.
 */
export const DEFAULT_CGROUP_PARENT = "oneshot.slice";

/** CFS period for `cpu.max`, in microseconds (the kernel's default). */
export const CPU_PERIOD_US = 100_000;

/**
 * QEMU's own memory beside the guest's RAM, MiB: its heap, the virtio queues and, under TCG,
 * the translated-code buffer it touches (the 1 GiB buffer is reserved, not resident). Measured
 * here: a 256 MiB TCG guest's QEMU peaks near 206 MiB resident with the guest using little of
 * its RAM (docs/qemu-recipes); 192 MiB over the guest's RAM leaves room for a guest that
 * touches all of its memory. Reserved per VM in the capacity hostd registers (capacity.ts).
 */
export const QEMU_MEM_OVERHEAD_MIB = 192;

export const vmCgroupLeaf = (vmId: string): string => `oneshot-${vmId}`;

/** The limit files of one VM's leaf: `cpu.max` and `memory.max` (bytes). */
export function vmCgroupLimits(vcpus: number, memMiB: number, overheadMiB: number): { "cpu.max": string; "memory.max": string } {
  if (!Number.isInteger(vcpus) || vcpus < 1) throw new RangeError(`vcpus must be a positive integer, got ${vcpus}`);
  if (!Number.isInteger(memMiB) || memMiB < 1) throw new RangeError(`memMiB must be a positive integer, got ${memMiB}`);
  if (!Number.isInteger(overheadMiB) || overheadMiB < 0) throw new RangeError(`overheadMiB must be a non-negative integer, got ${overheadMiB}`);
  return { "cpu.max": `${vcpus * CPU_PERIOD_US} ${CPU_PERIOD_US}`, "memory.max": String((memMiB + overheadMiB) * 1024 * 1024) };
}

/**
 * The cgroup v2 mount point from /proc/self/mounts text: `/sys/fs/cgroup` on a unified host,
 * `/sys/fs/cgroup/unified` on a hybrid one (where cpu and memory usually sit in v1 instead).
 */
export function cgroup2Mount(mounts: string): string | undefined {
  const points = mounts
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f[2] === "cgroup2")
    .map((f) => f[1]!);
  return points.find((p) => p === "/sys/fs/cgroup") ?? points[0];
}
