import type { VmLaunchSpec } from "../port.js";

/**
 * The guest kernel command line under Firecracker (pure). Firecracker's serial port is
 * `ttyS0` on both arches; `reboot=k` makes a guest reboot (the agent's `reboot -f` after
 * `ONESHOT-JOB-EXIT=`) end the Firecracker process, and `panic=1` turns a panic into one.
 * `pci=off`: there is no PCI bus, only virtio-mmio (Firecracker appends the devices itself,
 * which is why the guest kernel needs CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES). The rest is the
 * guest contract's: `quiet`, and the TSC hints on amd64. Nothing job-specific.
 */
export function bootArgs(spec: Pick<VmLaunchSpec, "arch" | "extraCmdline">, tscKhz?: number): string {
  const parts = ["console=ttyS0", "reboot=k", "panic=1", "pci=off", "quiet"];
  if (spec.arch === "amd64") parts.push("tsc=reliable", ...(tscKhz ? [`tsc_early_khz=${tscKhz}`] : []));
  if (spec.extraCmdline?.trim()) parts.push(spec.extraCmdline.trim());
  return parts.join(" ");
}
