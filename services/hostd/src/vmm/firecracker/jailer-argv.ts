import { cgroupLimits } from "./cgroup-limits.js";
import type { ChrootLayout } from "./chroot-layout.js";

export interface JailerArgvInput {
  layout: Pick<ChrootLayout, "jailId" | "apiSock">;
  /** Absolute path of the Firecracker binary (the jailer copies it into the chroot). */
  firecrackerBin: string;
  uid: number;
  gid: number;
  chrootBaseDir: string;
  vcpus: number;
  memMiB: number;
  /** Firecracker's own memory on top of the guest's, for `memory.max`. */
  memOverheadMiB: number;
  /** Network namespace to join (`/var/run/netns/NAME`); the tap must live there. */
  netns?: string | undefined;
  /** cgroup the VM's cgroup is created under (jailer default: the exec file's name). */
  parentCgroup?: string | undefined;
}

/**
 * The jailer's command line (pure). No `--daemonize`: the jailer execs Firecracker in the same
 * process, so the driver keeps its pid and reads the serial console from its stdout.
 * Seccomp stays at Firecracker's default (no `--seccomp-level`/`--no-seccomp`).
 */
export function jailerArgv(i: JailerArgvInput): string[] {
  const argv = [
    "--id",
    i.layout.jailId,
    "--exec-file",
    i.firecrackerBin,
    "--uid",
    String(i.uid),
    "--gid",
    String(i.gid),
    "--chroot-base-dir",
    i.chrootBaseDir,
    "--cgroup-version",
    "2",
  ];
  for (const limit of cgroupLimits(i.vcpus, i.memMiB, i.memOverheadMiB)) argv.push("--cgroup", limit);
  if (i.parentCgroup) argv.push("--parent-cgroup", i.parentCgroup);
  if (i.netns) argv.push("--netns", i.netns);
  argv.push("--", "--api-sock", i.layout.apiSock.inChroot);
  return argv;
}
