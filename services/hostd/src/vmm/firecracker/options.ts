import type { Arch } from "@oneshot/proto";

/**
 * The Firecracker driver's settings. Compatible with select.ts's `DriverDeps` (it reads
 * `uidBase` and `tscKhz` from them and ignores the rest), so hostd can pass those as they are.
 */
export interface FirecrackerDriverOptions {
  /** VM slot n runs as uid/gid `uidBase + n` inside its jail; 0 = root (dev/tests only). */
  uidBase: number;
  /** How many slots (concurrent VMs) the uid pool has. Default 4096. */
  uidPoolSize?: number | undefined;
  /** `firecracker` binary: a path, or a name looked up on PATH. Default "firecracker". */
  firecrackerBin?: string | undefined;
  /** `jailer` binary: a path, or a name looked up on PATH. Default "jailer". */
  jailerBin?: string | undefined;
  /**
   * Absolute `--chroot-base-dir` shared by all VMs (e.g. /srv/jailer). Default: each VM's
   * own `<runDir>/fc-jail`, which keeps its files on the state dir's filesystem (hard links
   * instead of copies) and lets `list()` tell a VM's run dir.
   */
  chrootBaseDir?: string | undefined;
  /** `--netns` for every VM (the taps must live in it). Default: the host's namespace. */
  netns?: string | undefined;
  /** `--parent-cgroup`. Default: hostd's parent for every VMM (`oneshot.slice`, cgroup-plan.ts). */
  parentCgroup?: string | undefined;
  /** cgroup v2 mount, to remove the VM's cgroup the jailer leaves behind. Default /sys/fs/cgroup. */
  cgroupRoot?: string | undefined;
  /** Firecracker's own memory on top of the guest's in `memory.max`. Default 64 MiB. */
  memOverheadMiB?: number | undefined;
  /** SMT in amd64 guests. Default false. */
  smt?: boolean | undefined;
  /** Firecracker's logger level (into the chroot's firecracker.log); null = no logger. Default "Warning". */
  logLevel?: "Error" | "Warning" | "Info" | "Debug" | null | undefined;
  /** Host TSC kHz for amd64 guests' `tsc_early_khz=`. */
  tscKhz?: number | undefined;
  /** How long Firecracker may take to open its API socket. Default 30 s. */
  apiReadyTimeoutMs?: number | undefined;
  /** The machine's arch (default: this process's). */
  hostArch?: Arch | undefined;
  /** /proc, for `list()` and the uid pool (tests may point it elsewhere). */
  procDir?: string | undefined;
  cpuinfoPath?: string | undefined;
  kvmPath?: string | undefined;
}
