import type { Arch } from "@oneshot/proto";
import type { VmLaunchSpec } from "../port.js";

/** What the QEMU driver adds to the port's launch spec (host facts and jail settings). */
export interface QemuHostOptions {
  /** Seccomp filter (`-sandbox on,...`), when this QEMU build has it. */
  sandbox: boolean;
  /** Drop to this uid:gid after QEMU has opened its files, tap and sockets (`-runas`). */
  runAs?: { uid: number; gid: number } | undefined;
  /** Empty directory QEMU chroots into after start (`-chroot`). */
  chroot?: string | undefined;
  /** Host TSC in kHz: `tsc_early_khz=` on x86 microvm guests. */
  tscKhz?: number | undefined;
  qmpSocket: string;
}

export const qemuBinary = (arch: Arch): string => (arch === "amd64" ? "qemu-system-x86_64" : "qemu-system-aarch64");

export const consoleTty = (arch: Arch): string => (arch === "amd64" ? "ttyS0" : "ttyAMA0");

/** The guest kernel command line (docs/guest-contract.md): nothing job-specific, ever. */
export function kernelCmdline(spec: Pick<VmLaunchSpec, "arch" | "extraCmdline">, tscKhz?: number): string {
  const parts = [`console=${consoleTty(spec.arch)}`, "reboot=t", "panic=-1", "quiet", "root=/dev/vda", "rw"];
  if (spec.arch === "amd64") parts.push("tsc=reliable", ...(tscKhz ? [`tsc_early_khz=${tscKhz}`] : []));
  if (spec.extraCmdline?.trim()) parts.push(spec.extraCmdline.trim());
  return parts.join(" ");
}

/**
 * Seccomp filter options. `elevateprivileges=allow` because `-runas` itself calls setuid after
 * the filter is installed (`deny` kills QEMU with SIGSYS right there); once every uid is the
 * VM's, setuid cannot give root back, and `spawn=deny` forbids exec of anything setuid.
 */
export const SANDBOX_OPTIONS = "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny";

/** A `-drive`/`-netdev` option value: QEMU escapes a comma by doubling it. */
const opt = (s: string) => s.replace(/,/g, ",,");

/**
 * The whole QEMU command line for one VM (pure). The console is the process's stdout (the
 * driver caps what it keeps); QMP listens on a unix socket for a clean `quit`.
 * Device order is the guest contract's: root disk (vda), config drive (vdb), then the NIC.
 */
export function qemuArgv(spec: VmLaunchSpec, host: QemuHostOptions): string[] {
  const machine =
    spec.arch === "amd64"
      ? ["-M", "microvm", "-cpu", spec.accel === "kvm" ? "host" : "max"]
      : ["-M", "virt", "-cpu", spec.accel === "kvm" ? "host" : "cortex-a72"];
  const argv = [
    "-name",
    `oneshot-${spec.vmId}`,
    ...machine,
    "-accel",
    spec.accel,
    "-m",
    String(spec.memMiB),
    "-smp",
    String(spec.vcpus),
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-no-reboot",
    "-kernel",
    spec.kernel,
    "-initrd",
    spec.initrd,
    "-append",
    kernelCmdline(spec, host.tscKhz),
    "-chardev",
    "stdio,id=console,signal=off",
    "-serial",
    "chardev:console",
    "-drive",
    `id=root,file=${opt(spec.rootDisk)},format=${spec.rootDisk.endsWith(".qcow2") ? "qcow2" : "raw"},if=none,cache=unsafe,discard=unmap`,
    "-device",
    "virtio-blk-device,drive=root",
    "-drive",
    `id=config,file=${opt(spec.configDisk)},format=raw,if=none`,
    "-device",
    "virtio-blk-device,drive=config",
  ];
  // A warm pool VM's job drive (docs/warm-pool.md). QEMU keeps no data cache of its own for a
  // raw file (it reads through the host's page cache), so the guest's O_DIRECT reads after the
  // hand-over see what hostd wrote in place.
  if (spec.jobDisk) argv.push("-drive", `id=job,file=${opt(spec.jobDisk)},format=raw,if=none`, "-device", "virtio-blk-device,drive=job");
  if (spec.net) {
    argv.push(
      "-netdev",
      `tap,id=net0,ifname=${spec.net.tap},script=no,downscript=no,vhost=off`,
      "-device",
      `virtio-net-device,netdev=net0,mac=${spec.net.mac}`,
    );
  }
  argv.push("-qmp", `unix:${opt(host.qmpSocket)},server=on,wait=off`);
  if (host.sandbox) argv.push("-sandbox", SANDBOX_OPTIONS);
  if (host.runAs) argv.push("-runas", `${host.runAs.uid}:${host.runAs.gid}`);
  if (host.chroot) argv.push("-chroot", host.chroot);
  return argv;
}

/** The run dir of a QEMU command line of ours (where its QMP socket is), else undefined (pure). */
export function runDirOfArgv(argv: string[]): string | undefined {
  const i = argv.indexOf("-qmp");
  const m = i >= 0 ? /^unix:(.+)\/qmp\.sock(?:,|$)/.exec(argv[i + 1] ?? "") : null;
  return m?.[1]?.replace(/,,/g, ",");
}

/** The VM id of a QEMU command line of ours (`-name oneshot-<vmId>`), else undefined (pure). */
export function vmIdOfArgv(argv: string[]): string | undefined {
  const i = argv.indexOf("-name");
  const name = i >= 0 ? argv[i + 1] : undefined;
  const m = name ? /^oneshot-([a-z0-9]{1,12})(?:,.*)?$/.exec(name) : null;
  return m?.[1];
}
