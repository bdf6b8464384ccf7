import { appendFile } from "node:fs/promises";
import type { Arch } from "@oneshot/proto";
import { readKeyBlock } from "../vm/config-drive.js";
import { signMarker } from "../vm/marker-auth.js";
import { VmmError, type ProbeResult, type RunningVm, type VmExit, type VmLaunchSpec, type VmmDriver } from "../vmm/port.js";

/** How simulated guests behave: boot time, run time and exit code, each drawn per VM. */
export interface SimGuestModel {
  bootMs: () => number;
  runMs: () => number;
  exitCode: () => number;
}

/** Pids the simulation hands out: above Linux's pid_max (4194304), so no real process can be confused with one. */
const SIM_PID_BASE = 5_000_000;
let nextPid = SIM_PID_BASE;

interface SimVm {
  vmId: string;
  pid: number;
  runDir: string;
  timers: NodeJS.Timeout[];
  exit: (e: VmExit) => void;
}

/** `oneshot-marker-key-v1 <hex>` in the drive's last 4 KiB (marker-auth.ts), as the guest agent reads it. */
export async function readMarkerKey(configDisk: string): Promise<Buffer> {
  const m = /^oneshot-marker-key-v1 ([0-9a-f]{64})\n/.exec((await readKeyBlock(configDisk)).toString("ascii"));
  if (!m) throw new Error(`${configDisk}: no marker key block`);
  return Buffer.from(m[1]!, "hex");
}

/**
 * A VMM driver whose guests are timers (the simulation's VMM adapter): `start` reads the marker
 * key from the config drive hostd built, "boots" after `bootMs` by printing the agent's signed
 * ready marker on the console log, "runs" for `runMs`, prints the signed job markers and exits
 * with code 0 (the guest powered off). Everything around it (console tail, markers, events,
 * destroy) is hostd's own code. `name` is "qemu" because the VMM enum is frozen in published
 * events; a simulated host says `sim` in its labels.
 */
export class SimVmm implements VmmDriver {
  readonly name = "qemu" as const;
  readonly rootDiskFormat = "raw" as const;
  readonly memOverheadMiB = 0;
  private readonly vms = new Map<string, SimVm>();
  /** VMs started since creation (the fleet's counter). */
  started = 0;

  constructor(private readonly model: SimGuestModel) {}

  get running(): number {
    return this.vms.size;
  }

  async probe(_arch: Arch): Promise<ProbeResult> {
    return { ok: true, accel: "tcg", reason: "simulated VMM" };
  }

  async start(spec: VmLaunchSpec): Promise<RunningVm> {
    if (this.vms.has(spec.vmId)) throw new VmmError(spec.vmId, "vmm-start", "a simulated VM of that id is already running");
    const key = await readMarkerKey(spec.configDisk).catch((e: unknown) => {
      throw new VmmError(spec.vmId, "vmm-start", `cannot read the config drive: ${(e as Error).message}`, { cause: e });
    });
    const say = (text: string) => appendFile(spec.consoleLog, `${signMarker(key, text)}\n`).catch(() => undefined);
    let exit!: (e: VmExit) => void;
    const exited = new Promise<VmExit>((r) => (exit = r));
    const vm: SimVm = { vmId: spec.vmId, pid: nextPid++, runDir: spec.runDir, timers: [], exit };
    this.vms.set(spec.vmId, vm);
    this.started++;
    await appendFile(spec.consoleLog, "[    0.000000] Linux version (simulated guest)\n");
    const bootMs = this.model.bootMs();
    const runMs = this.model.runMs();
    const code = this.model.exitCode();
    vm.timers.push(setTimeout(() => void say("ONESHOT-AGENT-READY"), bootMs));
    vm.timers.push(setTimeout(() => void say("ONESHOT-JOB-START"), bootMs + 1));
    vm.timers.push(
      setTimeout(() => {
        void say(`ONESHOT-JOB-EXIT=${code}`).then(() => this.end(spec.vmId, { code: 0, signal: null }));
      }, bootMs + runMs),
    );
    return { vmId: spec.vmId, pid: vm.pid, exited };
  }

  /** No guest to ask: the simulated VMM is "killed" at once (idempotent). */
  async stop(vmId: string, _runDir: string, _graceMs: number): Promise<void> {
    this.end(vmId, { code: null, signal: "SIGKILL" });
  }

  async list(): Promise<{ vmId: string; pid: number; runDir?: string }[]> {
    return [...this.vms.values()].map((v) => ({ vmId: v.vmId, pid: v.pid, runDir: v.runDir }));
  }

  async cleanup(_vmId: string, _runDir: string): Promise<void> {}

  private end(vmId: string, e: VmExit): void {
    const vm = this.vms.get(vmId);
    if (!vm) return;
    for (const t of vm.timers) clearTimeout(t);
    this.vms.delete(vmId);
    vm.exit(e);
  }
}
