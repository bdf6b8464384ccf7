import { constants } from "node:fs";
import { access, readFile } from "node:fs/promises";
import { delimiter, join } from "node:path";
import type { Arch } from "@oneshot/proto";
import { hwVirtHint } from "../../host/cpu.js";
import type { ProbeResult } from "../port.js";

/** What the probe looks at; gathered by `probeFacts`, judged by `probeVerdict`. */
export interface ProbeFacts {
  arch: Arch;
  hostArch: Arch | undefined;
  /** Resolved paths, or undefined when not found/executable. */
  firecracker: string | undefined;
  jailer: string | undefined;
  cpuinfo: string;
  /** Whether /dev/kvm opens read-write for this process. */
  kvm: boolean;
}

/**
 * Whether Firecracker can run `arch` guests here (pure). Firecracker has no emulation: it
 * needs the binaries, a native guest arch, and hardware KVM. On x86 a /dev/kvm without
 * vmx/svm is not hardware KVM (e.g. KVM-PVM on a nested cloud host) and does not count.
 */
export function probeVerdict(f: ProbeFacts): ProbeResult {
  const no = (reason: string): ProbeResult => ({ ok: false, accel: "kvm", reason });
  if (!f.firecracker) return no("firecracker binary not found (not on PATH; or set the driver's firecrackerBin)");
  if (!f.jailer) return no("jailer binary not found (not on PATH; or set the driver's jailerBin)");
  if (f.hostArch !== f.arch) return no(`Firecracker cannot emulate: ${f.arch} guests on a ${f.hostArch ?? "unknown"} machine`);
  const hint = hwVirtHint(f.arch, f.cpuinfo);
  if (!hint.possible) return no(hint.reason ?? "no hardware virtualization");
  if (!f.kvm) return no("/dev/kvm missing or not read-write for this user");
  return { ok: true, accel: "kvm" };
}

/** A program's absolute path: as given when it has a slash, else searched on PATH. */
export async function resolveBinary(bin: string, path = process.env.PATH ?? ""): Promise<string | undefined> {
  const candidates = bin.includes("/")
    ? [bin]
    : path
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, bin));
  for (const c of candidates)
    if (
      await access(c, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return c;
  return undefined;
}

export async function probeFacts(
  arch: Arch,
  o: { firecrackerBin: string; jailerBin: string; hostArch: Arch | undefined; cpuinfoPath?: string; kvmPath?: string },
): Promise<ProbeFacts> {
  return {
    arch,
    hostArch: o.hostArch,
    firecracker: await resolveBinary(o.firecrackerBin),
    jailer: await resolveBinary(o.jailerBin),
    cpuinfo: await readFile(o.cpuinfoPath ?? "/proc/cpuinfo", "utf8").catch(() => ""),
    kvm: await access(o.kvmPath ?? "/dev/kvm", constants.R_OK | constants.W_OK).then(
      () => true,
      () => false,
    ),
  };
}
