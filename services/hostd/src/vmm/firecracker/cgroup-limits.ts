/** CFS period for `cpu.max`, in microseconds (the kernel's default). */
export const CPU_PERIOD_US = 100_000;

/**
 * cgroup v2 limits for one VM (pure), as the jailer's `--cgroup file=value` values: the VM's
 * vCPUs as CPU bandwidth, and its memory plus Firecracker's own overhead as `memory.max` (a
 * guest touching all its memory must not be OOM-killed for the VMM's few MiB).
 */
export function cgroupLimits(vcpus: number, memMiB: number, overheadMiB: number): string[] {
  if (!Number.isInteger(vcpus) || vcpus < 1) throw new RangeError(`vcpus must be a positive integer, got ${vcpus}`);
  if (!Number.isInteger(memMiB) || memMiB < 1) throw new RangeError(`memMiB must be a positive integer, got ${memMiB}`);
  return [`cpu.max=${vcpus * CPU_PERIOD_US} ${CPU_PERIOD_US}`, `memory.max=${(memMiB + overheadMiB) * 1024 * 1024}`];
}
