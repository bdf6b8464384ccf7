import { decideAccel, hwVirtHint } from "@oneshot/hostd";
import type { Arch } from "@oneshot/proto";
import { fail, ok, warn, type Finding } from "./verdict.js";

/** What the doctor measured about KVM on this machine (kvm-facts.ts gathers it). */
export interface KvmFacts {
  /** The guest arch this host offers (HOSTD_ARCH, else the machine's). */
  arch: Arch;
  machineArch: Arch | undefined;
  requested: "auto" | "kvm" | "tcg";
  cpuinfo: string;
  devKvm: "missing" | "no-access" | "rw";
  /** `qemu-system-* -M none -accel kvm` run to its monitor's `quit`: KVM_GET_API_VERSION and KVM_CREATE_VM. Undefined: not run. */
  qemuKvm?: { code: number; stderr: string };
  haveImage: boolean;
}

/**
 * KVM usable or not, and why, decided as hostd decides at start (`decideAccel`, `hwVirtHint`),
 * with every reason found rather than the first: an operator fixes them all at once.
 */
export function kvmCheck(f: KvmFacts): Finding {
  const emulated = f.machineArch !== f.arch;
  const reasons: string[] = [];
  let fix = "";
  const hint = hwVirtHint(f.arch, f.cpuinfo);
  if (emulated) {
    reasons.push(`emulating ${f.arch} on a ${f.machineArch ?? "foreign"} machine (TCG only)`);
    fix = `run ${f.arch} guests on a ${f.arch} host for KVM`;
  } else {
    if (!hint.possible) {
      reasons.push(hint.reason!);
      fix = "run hostd on bare metal, or on a VM whose hypervisor exposes nested virtualization (vmx/svm in the guest's CPU flags)";
    }
    if (f.devKvm === "missing") {
      reasons.push("/dev/kvm missing");
      fix ||= "load the KVM module (modprobe kvm_intel or kvm_amd) and enable VT-x/AMD-V in the firmware";
    } else if (f.devKvm === "no-access") {
      reasons.push("/dev/kvm exists but this user cannot open it read-write");
      fix ||= "run hostd as root, or add its user to the group that owns /dev/kvm (usually kvm)";
    }
    const q = f.qemuKvm;
    if (q && q.code !== 0 && f.devKvm !== "missing") {
      const line =
        q.stderr
          .split("\n")
          .map((l) => l.trim())
          .filter(Boolean)
          .at(-1) ?? `exit ${q.code}`;
      reasons.push(`QEMU could not create a KVM VM (${line})`);
      fix ||= "KVM_CREATE_VM failed: another hypervisor may hold VT-x/AMD-V, or nested KVM is off on the parent (kvm_intel nested=1)";
    }
  }
  const usable = !emulated && reasons.length === 0;
  const decision = decideAccel({
    requested: f.requested,
    emulated,
    driver: usable ? { ok: true, accel: "kvm" } : { ok: true, accel: "tcg", reason: reasons.join("; ") },
    haveImage: f.haveImage,
  });
  if (decision.kind === "fatal")
    return fail("kvm", decision.reason, "fix KVM as below, or unset HOSTD_ACCEL (auto falls back to TCG)" + (fix ? `: ${fix}` : ""));
  if (decision.kind === "probe-boot") {
    return ok("kvm", "KVM usable: /dev/kvm opens read-write and QEMU creates a KVM VM; hostd confirms with a probe boot at start (HOSTD_KVM_PROBE_TIMEOUT)");
  }
  if (decision.accel === "kvm") return ok("kvm", `KVM: ${decision.reason}`);
  const why =
    f.requested === "tcg" ? `HOSTD_ACCEL=tcg${usable ? " (KVM would work here)" : `; KVM would not work anyway: ${reasons.join("; ")}`}` : decision.reason;
  return warn(
    "kvm",
    `TCG: guests run under QEMU software emulation, slowly; why: ${why}`,
    f.requested === "tcg" && usable ? "unset HOSTD_ACCEL to use KVM" : fix || "build a guest image (images/build-minimal.sh) so hostd can probe KVM",
  );
}
