import type { Arch } from "@oneshot/proto";

/** The machine's arch in oneshot's names; undefined for anything else. */
export function machineArch(nodeArch: string): Arch | undefined {
  if (nodeArch === "x64") return "amd64";
  if (nodeArch === "arm64") return "arm64";
  return undefined;
}

/** CPU flags of the first processor in /proc/cpuinfo (x86 `flags`, arm64 `Features`). */
export function cpuFlags(cpuinfo: string): Set<string> {
  const line = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(cpuinfo);
  return new Set((line?.[1] ?? "").split(/\s+/).filter(Boolean));
}

/**
 * Whether KVM can be hardware virtualization here. On x86 a real KVM host shows `vmx` (Intel)
 * or `svm` (AMD); without them /dev/kvm may still exist (KVM-PVM, a software hypervisor on
 * nested clouds) and ordinary guests crawl and die under it. arm64 has no such flag: only a
 * probe boot can tell.
 */
export function hwVirtHint(arch: Arch, cpuinfo: string): { possible: boolean; reason?: string } {
  if (arch === "arm64") return { possible: true };
  const f = cpuFlags(cpuinfo);
  if (f.has("vmx") || f.has("svm")) return { possible: true };
  return { possible: false, reason: "no vmx/svm flag in /proc/cpuinfo (nested host; /dev/kvm, if present, is not hardware KVM, e.g. KVM-PVM)" };
}

/**
 * The host TSC frequency in kHz, for `tsc_early_khz=` on x86 microvm guests (without it the
 * guest kernel sometimes stalls calibrating against a PIT that microvm does not have).
 * From dmesg's "tsc: Detected/Refined ... MHz" when given, else /proc/cpuinfo's "cpu MHz".
 */
export function tscKhz(cpuinfo: string, dmesg = ""): number | undefined {
  const refined = /Refined TSC clocksource calibration: (\d+(?:\.\d+)?) MHz/.exec(dmesg);
  const detected = /tsc: Detected (\d+(?:\.\d+)?) MHz/.exec(dmesg);
  const mhz = refined?.[1] ?? detected?.[1] ?? /^cpu MHz\s*:\s*(\d+(?:\.\d+)?)/m.exec(cpuinfo)?.[1];
  if (!mhz) return undefined;
  const khz = Math.round(Number(mhz) * 1000);
  return khz > 0 ? khz : undefined;
}
