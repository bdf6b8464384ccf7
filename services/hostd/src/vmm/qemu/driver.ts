import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:fs";
import { access, mkdir, readFile, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Arch } from "@oneshot/proto";
import type { Exec } from "../../host/exec.js";
import { hwVirtHint, machineArch } from "../../host/cpu.js";
import { processAlive, watchVmmProcess } from "../watch-process.js";
import { VmmError, type ProbeResult, type RunningVm, type VmExit, type VmLaunchSpec, type VmmDriver } from "../port.js";
import { qemuArgv, qemuBinary, runDirOfArgv, vmIdOfArgv } from "./argv.js";
import { qmpCommand } from "./qmp.js";
import { probeSandbox, sandboxDecision, type SandboxProbe } from "./sandbox.js";
import { QEMU_MEM_OVERHEAD_MIB } from "../cgroup/cgroup-plan.js";
import type { VmCgroups } from "../cgroup/vm-cgroups.js";

export interface QemuDriverOptions {
  exec: Exec;
  /** VM slot n runs as uid/gid base+n (`-runas`); 0 = stay root. */
  uidBase: number;
  /** Host TSC kHz for x86 microvm guests. */
  tscKhz?: number | undefined;
  /** The machine's arch (default: this process's). */
  hostArch?: Arch | undefined;
  /** /proc, for `list()` (tests may point it elsewhere). */
  procDir?: string;
  /** Boot without the seccomp sandbox when it cannot be applied (HOSTD_ALLOW_NO_SANDBOX); default: refuse. */
  allowNoSandbox?: boolean | undefined;
  /** How long the sandbox probe may take (default 15 s). */
  sandboxProbeTimeoutMs?: number | undefined;
  /** Each VMM in its own cgroup v2 leaf (vm-cgroups.ts); absent = no cgroups (HOSTD_VMM_CGROUP=off). */
  cgroups?: VmCgroups | undefined;
  /** `required`: a boot fails (`no-cgroup`) unless the leaf can carry cpu.max and memory.max. */
  cgroupPolicy?: "auto" | "required" | undefined;
}

/** Files the driver keeps in a VM's run dir. */
export const qemuFiles = (runDir: string) => ({
  qmp: join(runDir, "qmp.sock"),
  jail: join(runDir, "jail"),
  stderr: join(runDir, "vmm.stderr"),
});

/**
 * QEMU behind the VMM port: `-M microvm` on x86_64, `-M virt` on aarch64, direct kernel boot,
 * virtio-mmio disks and NIC, console on stdout (capped by the driver), QMP for `quit`.
 * Jail: seccomp (`-sandbox on`, no spawning), its own uid per VM slot (`-runas`), chroot into
 * an empty directory once every file, tap and socket is open.
 */
export class QemuDriver implements VmmDriver {
  readonly name = "qemu" as const;
  readonly rootDiskFormat = "qcow2" as const;
  readonly memOverheadMiB = QEMU_MEM_OVERHEAD_MIB;
  private readonly children = new Map<string, { child: ChildProcess; exited: Promise<VmExit>; slot: number }>();
  /** Slots of VMs this driver started, from choosing the slot until the VMM has exited. */
  private readonly reserved = new Set<number>();
  /** Only a success is remembered: a failed probe (a timeout under load) is asked again at the next boot. */
  private sandboxOk = false;
  /** The last sandbox probe, for the start-up log line. */
  lastSandboxProbe: SandboxProbe | undefined;

  constructor(private readonly o: QemuDriverOptions) {}

  async probe(arch: Arch): Promise<ProbeResult> {
    const bin = qemuBinary(arch);
    const version = await this.o.exec(bin, ["--version"]);
    if (version.code !== 0) return { ok: false, accel: "tcg", reason: `${bin} not runnable here (${version.stderr.trim() || "not installed"})` };
    await this.sandboxProbe(arch);
    const host = this.o.hostArch ?? machineArch(process.arch);
    if (host !== arch) return { ok: true, accel: "tcg", reason: `emulating ${arch} on a ${host ?? process.arch} machine` };
    const hint = hwVirtHint(arch, await readFile("/proc/cpuinfo", "utf8").catch(() => ""));
    if (!hint.possible) return { ok: true, accel: "tcg", reason: hint.reason! };
    const kvm = await access("/dev/kvm", constants.R_OK | constants.W_OK).then(
      () => true,
      () => false,
    );
    if (!kvm) return { ok: true, accel: "tcg", reason: "/dev/kvm missing or not accessible" };
    return { ok: true, accel: "kvm" };
  }

  /** Probes `-sandbox` (sandbox.ts) unless an earlier probe succeeded. */
  async sandboxProbe(arch: Arch): Promise<SandboxProbe> {
    if (this.sandboxOk) return { ok: true };
    const p = await probeSandbox(this.o.exec, arch, this.o.sandboxProbeTimeoutMs);
    this.sandboxOk = p.ok;
    this.lastSandboxProbe = p;
    return p;
  }

  async start(spec: VmLaunchSpec): Promise<RunningVm> {
    if (this.children.has(spec.vmId)) throw new VmmError(spec.vmId, "already-running", "a VMM for this VM is already running");
    const sandbox = sandboxDecision(await this.sandboxProbe(spec.arch), this.o.allowNoSandbox ?? false);
    if (sandbox.kind === "refuse") throw new VmmError(spec.vmId, "no-sandbox", sandbox.reason);
    const cg = this.o.cgroups;
    if (this.o.cgroupPolicy === "required" && cg?.support.kind !== "limits") {
      const why = !cg ? "HOSTD_VMM_CGROUP=off" : cg.support.reason;
      throw new VmmError(spec.vmId, "no-cgroup", `cgroup v2 limits cannot be applied, refusing to boot (HOSTD_VMM_CGROUP=required): ${why}`);
    }
    const files = qemuFiles(spec.runDir);
    await mkdir(files.jail, { recursive: true, mode: 0o755 });
    const leaf = await cg?.create(spec.vmId, spec.vcpus, spec.memMiB, this.memOverheadMiB);
    await rm(files.qmp, { force: true });
    const taken = await this.slotsInUseElsewhere();
    // From here to the reservation nothing awaits: two starts cannot pick the same slot.
    let slot = 1;
    while (taken.has(slot) || this.reserved.has(slot)) slot++;
    this.reserved.add(slot);
    const runAs = this.o.uidBase > 0 ? { uid: this.o.uidBase + slot, gid: this.o.uidBase + slot } : undefined;
    const argv = qemuArgv(spec, { sandbox: sandbox.kind === "apply", runAs, chroot: files.jail, tscKhz: this.o.tscKhz, qmpSocket: files.qmp });
    // In its leaf before QEMU runs a single instruction: the shell joins the leaf, then execs
    // QEMU in the same process (same pid; /proc/<pid>/cmdline is QEMU's from then on).
    const child = leaf
      ? spawn("/bin/sh", ["-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', leaf, qemuBinary(spec.arch), ...argv], {
          stdio: ["ignore", "pipe", "pipe"],
          detached: false,
        })
      : spawn(qemuBinary(spec.arch), argv, { stdio: ["ignore", "pipe", "pipe"], detached: false });
    const { exited, stderr } = watchVmmProcess(child, {
      consoleLog: spec.consoleLog,
      consoleMaxBytes: spec.consoleMaxBytes,
      stderrFile: files.stderr,
      onExit: () => {
        this.children.delete(spec.vmId);
        this.reserved.delete(slot);
      },
    });
    this.children.set(spec.vmId, { child, exited, slot });
    // QEMU is up once its QMP socket answers; an early exit is a refused configuration.
    const ready = await Promise.race([this.waitQmp(files.qmp, 30_000).then(() => "ready" as const), exited.then(() => "exited" as const)]);
    if (ready !== "ready") {
      throw new VmmError(spec.vmId, "vmm-exited", `QEMU exited at start (code ${child.exitCode}): ${stderr().trim().slice(-1000)}`);
    }
    return { vmId: spec.vmId, pid: child.pid ?? null, exited };
  }

  /**
   * Slots (uid - base) of oneshot QEMU processes this driver did not start: another hostd (an
   * emulated arch) may run VMs on this machine too, and two VMs must never share a uid.
   */
  private async slotsInUseElsewhere(): Promise<Set<number>> {
    const used = new Set<number>();
    if (this.o.uidBase > 0) {
      const proc = this.o.procDir ?? "/proc";
      for (const { pid } of await this.list()) {
        const status = await readFile(join(proc, String(pid), "status"), "utf8").catch(() => "");
        const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
        if (uid > this.o.uidBase) used.add(uid - this.o.uidBase);
      }
    }
    return used;
  }

  private async waitQmp(socket: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        await qmpCommand(socket, "query-status", 2_000);
        return;
      } catch (e) {
        last = e;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    throw new Error(`QMP did not answer within ${timeoutMs}ms: ${String(last)}`);
  }

  async stop(vmId: string, runDir: string, graceMs: number): Promise<void> {
    const own = this.children.get(vmId);
    const pids = own?.child.pid ? [own.child.pid] : (await this.list()).filter((v) => v.vmId === vmId).map((v) => v.pid);
    if (!pids.length) return;
    await qmpCommand(qemuFiles(runDir).qmp, "quit", Math.min(graceMs, 3_000)).catch(() => undefined);
    const gone = () => pids.every((p) => !processAlive(p));
    const deadline = Date.now() + graceMs;
    while (!gone() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const p of pids) if (processAlive(p)) process.kill(p, "SIGKILL");
    if (own) await own.exited;
    else while (!gone()) await new Promise((r) => setTimeout(r, 20));
  }

  /**
   * Warm hand-over (docs/warm-pool.md): QEMU serves the job drive's file as it is, so the data
   * needs nothing; `block_resize` to the size hostd grew it to rings the doorbell (a virtio
   * config change: the guest's agent sees the new size and reads the job).
   */
  async handOver(vmId: string, runDir: string, jobDisk: string): Promise<void> {
    const { size } = await stat(jobDisk);
    await qmpCommand(qemuFiles(runDir).qmp, "block_resize", 3_000, { device: "job", size }).catch((e: Error) => {
      throw new VmmError(vmId, "vmm-hand-over", `QMP block_resize of the job drive: ${e.message}`);
    });
  }

  async list(): Promise<{ vmId: string; pid: number; runDir?: string }[]> {
    const proc = this.o.procDir ?? "/proc";
    const out: { vmId: string; pid: number; runDir?: string }[] = [];
    for (const entry of await readdir(proc).catch(() => [] as string[])) {
      if (!/^\d+$/.test(entry)) continue;
      const raw = await readFile(join(proc, entry, "cmdline")).catch(() => undefined);
      if (!raw?.length) continue;
      const argv = raw.toString().split("\0").filter(Boolean);
      if (!/qemu-system-/.test(argv[0] ?? "")) continue;
      const vmId = vmIdOfArgv(argv);
      const runDir = runDirOfArgv(argv);
      if (vmId) out.push({ vmId, pid: Number(entry), ...(runDir ? { runDir } : {}) });
    }
    return out;
  }

  async cleanup(vmId: string, runDir: string): Promise<void> {
    await this.o.cgroups?.remove(vmId);
    const f = qemuFiles(runDir);
    await rm(f.qmp, { force: true });
    await rm(f.jail, { recursive: true, force: true });
    await rm(f.stderr, { force: true });
  }
}
