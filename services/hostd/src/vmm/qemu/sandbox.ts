import type { Arch } from "@oneshot/proto";
import type { Exec } from "../../host/exec.js";
import { SANDBOX_OPTIONS, qemuBinary } from "./argv.js";

/** Whether QEMU's seccomp filter (`-sandbox`) can be applied here, and if not, why. */
export type SandboxProbe = { ok: true } | { ok: false; reason: string };

/** What the driver does about the sandbox for one boot (pure). */
export type SandboxDecision = { kind: "apply" } | { kind: "without"; warning: string } | { kind: "refuse"; reason: string };

/**
 * Starts QEMU with no machine and the same `-sandbox` option a VM gets, and quits it over QMP
 * on stdin. A build without seccomp refuses the option; a kernel without seccomp filters makes
 * QEMU fail to install it. A timeout (a loaded 2-core machine) is a failure too: the driver
 * asks again at the next boot, it never remembers a failure.
 */
export async function probeSandbox(exec: Exec, arch: Arch, timeoutMs = 15_000): Promise<SandboxProbe> {
  const bin = qemuBinary(arch);
  const r = await exec(bin, ["-M", "none", "-nodefaults", "-no-user-config", "-display", "none", "-sandbox", SANDBOX_OPTIONS, "-qmp", "stdio"], {
    input: '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n',
    timeoutMs,
  });
  if (r.code === 0) return { ok: true };
  const why = r.code === null ? `no answer within ${timeoutMs}ms` : `exit ${r.code}: ${r.stderr.trim().split("\n").pop()?.slice(0, 300) ?? ""}`;
  return { ok: false, reason: `${bin} -sandbox ${SANDBOX_OPTIONS} failed (${why})` };
}

/**
 * Fail closed: a VM boots without the seccomp filter only when the operator said so
 * (HOSTD_ALLOW_NO_SANDBOX=1). Otherwise the boot fails with the probe's reason.
 */
export function sandboxDecision(probe: SandboxProbe, allowNoSandbox: boolean): SandboxDecision {
  if (probe.ok) return { kind: "apply" };
  if (allowNoSandbox) return { kind: "without", warning: `QEMU runs WITHOUT its seccomp sandbox (HOSTD_ALLOW_NO_SANDBOX=1): ${probe.reason}` };
  return { kind: "refuse", reason: `QEMU's seccomp sandbox cannot be applied, refusing to boot (HOSTD_ALLOW_NO_SANDBOX=1 allows it): ${probe.reason}` };
}
