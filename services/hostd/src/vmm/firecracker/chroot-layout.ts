import { basename, join } from "node:path";
import type { VmLaunchSpec } from "../port.js";
import { jailId } from "./ids.js";

/** One file the VM needs inside its chroot. */
export interface ChrootFile {
  /** The file on the host, as hostd gave it. */
  from: string;
  /** Where Firecracker sees it (absolute inside the chroot; what the API is told). */
  inChroot: string;
  /** Where that is on the host. */
  onHost: string;
  /**
   * Shared between VMs (kernel, initrd): never chowned to the VM's uid (that would hand one
   * VM's uid write access to every VM's kernel); hard-linked only when world-readable.
   */
  shared: boolean;
}

export interface ChrootLayout {
  jailId: string;
  /** `<base>/<exec-file name>/<id>`: what cleanup removes (the jailer leaves it behind). */
  jailDir: string;
  /** `<jailDir>/root`: the jailer chroots here. */
  root: string;
  /** Created empty before the jailer runs and owned by the VM's uid. */
  dirs: { inChroot: string; onHost: string }[];
  kernel: ChrootFile;
  initrd: ChrootFile;
  rootDisk: ChrootFile;
  configDisk: ChrootFile;
  /** A warm pool VM's job drive (docs/warm-pool.md), the VM's own like its disks; absent for a cold VM. */
  jobDisk?: ChrootFile;
  /** Firecracker's log file (created empty, owned by the VM's uid: it only appends). */
  log: { inChroot: string; onHost: string };
  apiSock: { inChroot: string; onHost: string };
}

/** Where the chroots go when no base is configured: inside the VM's own run dir. */
export const defaultChrootBase = (runDir: string): string => join(runDir, DEFAULT_JAIL_DIR);
export const DEFAULT_JAIL_DIR = "fc-jail";

/** A VM's jail directory and API socket, from what stop/cleanup know (pure). */
export function jailPaths(vmId: string, runDir: string, o: { chrootBaseDir?: string | undefined; firecrackerBin: string }) {
  const id = jailId(vmId);
  const base = o.chrootBaseDir ?? defaultChrootBase(runDir);
  const jailDir = join(base, basename(o.firecrackerBin), id);
  const root = join(jailDir, "root");
  return { jailId: id, base, jailDir, root, apiSock: { inChroot: API_SOCK, onHost: join(root, API_SOCK) } };
}
const API_SOCK = "/run/firecracker.socket";

/**
 * Which file goes where in a VM's chroot (pure). The jailer's layout is fixed by docs/jailer.md:
 * `<chroot-base-dir>/<basename of --exec-file>/<id>/root`; paths given to the API and the
 * `--api-sock` path are relative to that root.
 */
export function chrootLayout(
  spec: Pick<VmLaunchSpec, "vmId" | "kernel" | "initrd" | "rootDisk" | "configDisk" | "jobDisk" | "runDir">,
  o: { chrootBaseDir?: string | undefined; firecrackerBin: string },
): ChrootLayout {
  const { jailId: id, jailDir, root, apiSock } = jailPaths(spec.vmId, spec.runDir, o);
  const at = (inChroot: string) => ({ inChroot, onHost: join(root, inChroot) });
  const file = (from: string, inChroot: string, shared: boolean): ChrootFile => ({ from, shared, ...at(inChroot) });
  return {
    jailId: id,
    jailDir,
    root,
    dirs: [at("/run")],
    kernel: file(spec.kernel, "/vmlinux", true),
    initrd: file(spec.initrd, "/initrd.img", true),
    rootDisk: file(spec.rootDisk, "/root.raw", false),
    configDisk: file(spec.configDisk, "/config.ext4", false),
    ...(spec.jobDisk ? { jobDisk: file(spec.jobDisk, JOB_DISK_IN_CHROOT, false) } : {}),
    log: at("/firecracker.log"),
    apiSock,
  };
}

/** Where a warm VM's job drive is in its chroot (what `PATCH /drives/job` names at hand-over). */
export const JOB_DISK_IN_CHROOT = "/job.raw";

/** The files of a layout, in the order they are placed. */
export const chrootFiles = (l: ChrootLayout): ChrootFile[] => [l.kernel, l.initrd, l.rootDisk, l.configDisk, ...(l.jobDisk ? [l.jobDisk] : [])];
