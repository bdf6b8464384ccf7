import type { Arch } from "@oneshot/proto";
import type { Logger } from "@oneshot/runtime";
import type { Exec } from "../host/exec.js";
import { createQemuDriver } from "./qemu/index.js";
import type { ProbeResult, VmmDriver } from "./port.js";
import type { VmCgroups } from "./cgroup/vm-cgroups.js";

export interface DriverDeps {
  exec: Exec;
  log: Logger;
  uidBase: number;
  tscKhz?: number | undefined;
  stateDir: string;
  /** HOSTD_ALLOW_NO_SANDBOX: QEMU may boot without its seccomp sandbox when it cannot be applied. */
  allowNoSandbox?: boolean | undefined;
  /** Each VMM's cgroup v2 leaf (main.ts detects the hierarchy once); absent = off. */
  cgroups?: VmCgroups | undefined;
  cgroupPolicy?: "auto" | "required" | "off" | undefined;
}

export class DriverUnavailableError extends Error {
  override readonly name = "DriverUnavailableError";
  readonly retryable = false;
}

type Factory = (deps: DriverDeps) => VmmDriver | Promise<VmmDriver>;

/**
 * The Firecracker driver lives in `vmm/firecracker/` (its own engineer). It is loaded at run
 * time so this package builds with or without it; its `index.ts` exports a factory
 * (`createFirecrackerDriver`, or `createDriver`/default) taking these deps.
 */
export async function loadFirecracker(): Promise<Factory | undefined> {
  const url = new URL("./firecracker/index.js", import.meta.url).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (e) {
    if ((e as { code?: string }).code === "ERR_MODULE_NOT_FOUND") return undefined;
    throw e;
  }
  const f = mod.createFirecrackerDriver ?? mod.createDriver ?? mod.default;
  return typeof f === "function" ? (f as Factory) : undefined;
}

/**
 * Picks the VMM: `qemu`, `firecracker` (an error when its driver is missing or does not work
 * here), or `auto` (Firecracker when present and its probe passes, else QEMU).
 */
export async function selectDriver(
  choice: "auto" | "qemu" | "firecracker",
  arch: Arch,
  deps: DriverDeps,
): Promise<{ driver: VmmDriver; probe: ProbeResult; why: string }> {
  const qemu = async (why: string) => {
    const driver = createQemuDriver({
      exec: deps.exec,
      uidBase: deps.uidBase,
      tscKhz: deps.tscKhz,
      allowNoSandbox: deps.allowNoSandbox,
      cgroups: deps.cgroups,
      cgroupPolicy: deps.cgroupPolicy === "required" ? "required" : "auto",
    });
    const probe = await driver.probe(arch);
    if (!probe.ok) throw new DriverUnavailableError(`QEMU cannot run ${arch} guests here: ${probe.reason}`);
    // Said once at start: whether VMs get the seccomp filter, and what happens when they cannot.
    const sb = driver.lastSandboxProbe;
    if (!sb || sb.ok) deps.log.info({ sandbox: "on" }, "QEMU seccomp sandbox available: every VM gets -sandbox");
    else if (deps.allowNoSandbox)
      deps.log.warn({ sandbox: "off", reason: sb.reason }, "QEMU seccomp sandbox unavailable: HOSTD_ALLOW_NO_SANDBOX=1, VMs boot WITHOUT it");
    else
      deps.log.error(
        { sandbox: "refused", reason: sb.reason },
        "QEMU seccomp sandbox unavailable: boots fail (VmBootFailed no-sandbox) until it works or HOSTD_ALLOW_NO_SANDBOX=1",
      );
    return { driver, probe, why };
  };
  if (choice === "qemu") return qemu("HOSTD_VMM=qemu");
  const factory = await loadFirecracker();
  if (!factory) {
    if (choice === "firecracker")
      throw new DriverUnavailableError(
        "HOSTD_VMM=firecracker, but this hostd has no Firecracker driver yet (services/hostd/src/vmm/firecracker/index.ts exports no factory)",
      );
    return qemu("auto: no Firecracker driver in this build");
  }
  const driver = await factory(deps);
  const probe = await driver.probe(arch);
  if (probe.ok) return { driver, probe, why: `HOSTD_VMM=${choice}` };
  if (choice === "firecracker") throw new DriverUnavailableError(`HOSTD_VMM=firecracker, but Firecracker cannot run ${arch} guests here: ${probe.reason}`);
  return qemu(`auto: Firecracker unusable (${probe.reason})`);
}
