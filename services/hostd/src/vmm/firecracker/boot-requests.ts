import type { VmLaunchSpec } from "../port.js";
import { bootArgs } from "./boot-args.js";
import type { ChrootLayout } from "./chroot-layout.js";

/** One call of Firecracker's API (a `PUT`; the body is the swagger spec's JSON). */
export interface ApiCall {
  path: string;
  body: Record<string, unknown>;
}

export interface BootOptions {
  /** Simultaneous multithreading in the guest (x86 only; off keeps vCPUs independent). */
  smt: boolean;
  tscKhz?: number | undefined;
  /** Firecracker log level, or undefined for no logger. */
  logLevel?: "Error" | "Warning" | "Info" | "Debug" | undefined;
}

/** The job drive's id in Firecracker (`PUT /drives/job` before boot, `PATCH /drives/job` at hand-over). */
export const JOB_DRIVE_ID = "job";

/**
 * The hand-over's call (pure): `PATCH /drives/job` with the same path makes Firecracker reopen
 * the file, read its (grown) size and tell the guest (a virtio config change): the doorbell.
 */
export const handOverRequest = (l: Pick<ChrootLayout, "jobDisk">): ApiCall | undefined =>
  l.jobDisk ? { path: `/drives/${JOB_DRIVE_ID}`, body: { drive_id: JOB_DRIVE_ID, path_on_host: l.jobDisk.inChroot } } : undefined;

/** The guest NIC's id in Firecracker (its name in the guest is eth0: the only one). */
export const NET_IFACE_ID = "eth0";

/**
 * The API calls that configure and boot one VM, in order (pure). The logger comes first
 * (Firecracker logs the rest), all pre-boot resources before `InstanceStart`. Paths are the
 * chroot's. Drive order does not matter to the guest (it finds disks by label), but
 * Firecracker always makes the root device the first one.
 */
export function bootRequests(spec: Pick<VmLaunchSpec, "arch" | "vcpus" | "memMiB" | "extraCmdline" | "net">, l: ChrootLayout, o: BootOptions): ApiCall[] {
  const calls: ApiCall[] = [];
  if (o.logLevel) calls.push({ path: "/logger", body: { log_path: l.log.inChroot, level: o.logLevel, show_level: true, show_log_origin: false } });
  calls.push(
    { path: "/machine-config", body: { vcpu_count: spec.vcpus, mem_size_mib: spec.memMiB, ...(spec.arch === "amd64" ? { smt: o.smt } : {}) } },
    { path: "/boot-source", body: { kernel_image_path: l.kernel.inChroot, initrd_path: l.initrd.inChroot, boot_args: bootArgs(spec, o.tscKhz) } },
    { path: "/drives/root", body: { drive_id: "root", path_on_host: l.rootDisk.inChroot, is_root_device: true, is_read_only: false } },
    { path: "/drives/config", body: { drive_id: "config", path_on_host: l.configDisk.inChroot, is_root_device: false, is_read_only: false } },
  );
  // A warm VM's job drive (docs/warm-pool.md): empty at boot, writable (the agent erases it).
  if (l.jobDisk)
    calls.push({
      path: `/drives/${JOB_DRIVE_ID}`,
      body: { drive_id: JOB_DRIVE_ID, path_on_host: l.jobDisk.inChroot, is_root_device: false, is_read_only: false },
    });
  if (spec.net)
    calls.push({ path: `/network-interfaces/${NET_IFACE_ID}`, body: { iface_id: NET_IFACE_ID, host_dev_name: spec.net.tap, guest_mac: spec.net.mac } });
  calls.push({ path: "/actions", body: { action_type: "InstanceStart" } });
  return calls;
}
