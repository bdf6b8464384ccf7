import type { Resources } from "@oneshot/proto";

export const zero = (): Resources => ({ vcpus: 0, memMiB: 0, diskGiB: 0 });

export const plus = (a: Resources, b: Resources): Resources => ({
  vcpus: a.vcpus + b.vcpus,
  memMiB: a.memMiB + b.memMiB,
  diskGiB: a.diskGiB + b.diskGiB,
});

export const minus = (a: Resources, b: Resources): Resources => ({
  vcpus: a.vcpus - b.vcpus,
  memMiB: a.memMiB - b.memMiB,
  diskGiB: a.diskGiB - b.diskGiB,
});

/** True when `demand` fits in `room` on every resource. */
export const fitsIn = (demand: Resources, room: Resources): boolean =>
  demand.vcpus <= room.vcpus && demand.memMiB <= room.memMiB && demand.diskGiB <= room.diskGiB;

export const resourcesOf = (r: Resources): Resources => ({ vcpus: r.vcpus, memMiB: r.memMiB, diskGiB: r.diskGiB });

export const describe = (r: Resources): string => `${r.vcpus} vCPUs, ${r.memMiB} MiB, ${r.diskGiB} GiB disk`;
