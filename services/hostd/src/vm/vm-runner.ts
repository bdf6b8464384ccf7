import { open } from "node:fs/promises";
import type { Accel, Arch, BootTimings } from "@oneshot/proto";
import type { Logger } from "@oneshot/runtime";
import type { Exec } from "../host/exec.js";
import type { AddressPool } from "../net/address-pool.js";
import type { Links } from "../net/links.js";
import type { Nft } from "../net/nft.js";
import { mbitToBytesPerSec, type VmIsolation } from "../net/nft-rules.js";
import { vmRate, type RatePolicy } from "../net/vm-rate.js";
import { vmEgressOf } from "../egress/policy.js";
import { tapName, vmNetFor, type VmNet } from "../net/vm-address.js";
import { VmmError, type RunningVm, type VmmDriver } from "../vmm/port.js";
import type { OpenedLaunch } from "../agent/job-inputs.js";
import { buildConfigDrive, configDriveFiles, scriptLaunch, type DriveFile } from "./config-drive.js";
import { ConsoleMarkers } from "./console-markers.js";
import { newMarkerKey } from "./marker-auth.js";
import { ConsoleTail } from "./console-tail.js";
import { destroyVmRetrying } from "./destroy.js";
import type { PendingDestroyed } from "./done-log.js";
import type { GuestImage } from "./images.js";
import { bootFailureOf, exitOutcome, type StopCause } from "./outcome.js";
import { ensureRootDisk } from "./root-disk.js";
import { removeRunDir, runFiles, writeRecord, type VmRecord } from "./run-dir.js";
import type { VmEvents } from "./vm-events.js";

/** Everything a VM's life needs from the host; built once in main.ts. */
export interface VmDeps {
  hostId: string;
  bridge: string;
  subnet: string;
  dns: string;
  accel: Accel;
  exec: Exec;
  driver: VmmDriver;
  links: Links;
  nft: Nft;
  /** DestroyDeps.beforeRulesRemoved: the egress reporter's last read of the VM's counters. */
  beforeRulesRemoved?: () => Promise<void>;
  /** Network rates: the operator's policy (a job's `spec.netMbit` within its cap), and whether the bridge also has a shared total (BaseRulesInput.totalBytesPerSec). */
  netRate: { policy: RatePolicy; shared: boolean };
  addresses: AddressPool;
  events: VmEvents;
  log: Logger;
  image: (arch: string, name: string) => GuestImage | undefined;
  /** `script` launches from records that predate JobScheduled.script: the job's script (from its JobQueued). */
  jobScript: (jobId: string) => Promise<string>;
  /** `runner` launches: the broker's launch, opened (sealed to this host), whatever the provider. */
  runnerLaunch: (rec: VmRecord) => Promise<OpenedLaunch>;
  /** Journals a VmDestroyed before the run dir (the record) goes, so a crash cannot lose it. */
  markDestroying: (p: PendingDestroyed) => Promise<void>;
  /** Records the VM as finished (a redelivered placement must not run it again). */
  markDone: (vmId: string) => Promise<void>;
  /** Console text as it appears, in order (VmOutput). */
  output: (rec: VmRecord, text: string, offset: number) => void;
  consoleMaxBytes: number;
  bootTimeoutSec: number;
  timeoutGraceSec: number;
  /** After the exit marker the guest powers off; past this, hostd stops the VMM itself. */
  poweroffGraceMs?: number;
}

type RunFiles = ReturnType<typeof runFiles>;

/** What `VmRunner.boot` needs: the VM's shape, its config drive step, and a warm VM's job drive. */
export interface BootPlan {
  shape: { arch: Arch; vcpus: number; memMiB: number; diskGiB: number; image: string };
  /** Writes the config drive (timed as `configMs` with the address plan before it). */
  config: (net: VmNet, markerKey: Buffer, files: RunFiles) => Promise<void>;
  jobDisk?: string;
  /** Console text as the tail reads it, after the markers have seen it. */
  onText?: (text: string, markers: ConsoleMarkers) => void;
}

/** A VM whose VMM runs: its console, markers and timings so far. */
export interface Booted {
  vm: RunningVm;
  markers: ConsoleMarkers;
  tail: ConsoleTail;
  timings: Partial<BootTimings>;
  files: RunFiles;
  exited: () => boolean;
  /** The agent's marker is in: `agentReadyMs` and `totalMs` are set from now. */
  agentUp: () => void;
}

/** A step of the boot failed: the VmBootFailed code says which. */
export class BootStepError extends Error {
  override readonly name = "BootStepError";
  readonly retryable = false;
  constructor(
    readonly vmId: string,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`vm ${vmId}: ${code}: ${message}`, options);
  }
}

const elapsed = (t: number) => Math.round((performance.now() - t) * 10) / 10;

/**
 * One VM from accepted placement to destroyed: disk, config drive, tap + rules, VMM, wait for
 * the agent, wait for exit or timeout, destroy — appending its events on the way. The only
 * owner of its VM: everything else asks it (`kill`) instead of touching the VM.
 */
export class VmRunner {
  protected killRequested: ((why: string) => void) | undefined;
  /** Set before the destroy removes the VM's rules: from then on the isolation guard leaves them alone (net/isolation-guard.ts). */
  protected netClosed = false;
  protected killReason: string | undefined;
  /** How long a requested kill lets the guest shut down; 0 when isolation is lost (fail closed). */
  protected killGraceMs: number | undefined;
  /** Set once the VM's tap and rules exist: from then until `netClosed` the isolation guard keeps them. */
  protected netReady: VmNet | undefined;
  protected readonly killed = new Promise<string>((r) => (this.killRequested = r));
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(
    protected readonly d: VmDeps,
    readonly rec: VmRecord,
    readonly runDir: string,
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** Asks the VM to end now (reclaim, shutdown; `graceMs` 0: no clean shutdown); resolves when it is destroyed. */
  kill(why: string, graceMs?: number): Promise<void> {
    if (graceMs !== undefined) this.killGraceMs = Math.min(graceMs, this.killGraceMs ?? graceMs);
    if (!this.killReason) {
      this.killReason = why;
      this.killRequested?.(why);
    }
    return this.done;
  }

  async run(): Promise<void> {
    const log = this.d.log.child({ vmId: this.rec.vmId, jobId: this.rec.jobId });
    try {
      await this.lifecycle(log);
    } catch (e) {
      log.error({ err: e }, "VM lifecycle failed");
    } finally {
      this.resolveDone();
    }
  }

  protected async lifecycle(log: Logger): Promise<void> {
    const { rec, d } = this;
    const booted = await this.boot(log, {
      shape: rec.spec,
      // The job's config drive: its files, the launch (a runner's is requested now), the marker key.
      config: async (net, markerKey, files) => {
        const jobFiles = await this.jobFiles(log, net);
        if (rec.kind === "runner") await writeRecord(this.runDir, rec);
        await this.step("config", () => buildConfigDrive(d.exec, files.configDisk, jobFiles, markerKey));
      },
    });
    if ("failed" in booted) {
      log.warn({ err: booted.failed, code: booted.failed.code }, "VM boot failed");
      return this.failBoot(booted.failed.code, booted.failed.message, booted.files.consoleLog, log);
    }
    const { vm, markers, tail, timings, files } = booted;

    // Wait for the agent: ready marker, the VM ending, a kill, or the boot timeout.
    await this.waitForConsole(booted, () => markers.agentReady, d.bootTimeoutSec * 1000, 50);
    if (!markers.agentReady) {
      const f = bootFailureOf(markers, { exited: booted.exited(), killed: !!this.killReason, bootTimeoutSec: d.bootTimeoutSec });
      await this.stopVm(vm, tail);
      log.warn({ code: f.code }, "VM boot failed");
      return this.failBoot(f.code, f.reason, files.consoleLog, log);
    }
    booted.agentUp();
    const readyAt = performance.now();
    rec.phase = "running";
    await this.appendBooted(vm, timings);
    log.info({ timings, pid: vm.pid }, "VM booted");
    await this.runToExit(vm, markers, tail, readyAt, booted.exited, log);
  }

  /**
   * The boot steps a cold and a warm VM share: record, root disk, config drive (`plan.config`),
   * tap and rules, VMM start, console tail. A failed step has stopped whatever it started
   * (VMM, tail) and comes back as `failed`; the caller ends the VM its way.
   */
  protected async boot(log: Logger, plan: BootPlan): Promise<Booted | { failed: BootStepError; files: RunFiles }> {
    const { rec, d } = this;
    const files = runFiles(this.runDir, d.driver.rootDiskFormat);
    const t0 = performance.now();
    rec.phase = "booting";
    rec.startedAt = new Date().toISOString();
    await writeRecord(this.runDir, rec);
    const { shape } = plan;
    const image = d.image(shape.arch, shape.image);
    const timings: Partial<BootTimings> = {};
    let vm: RunningVm | undefined;
    let spawnAt = t0;
    // This VM's marker key: in hostd's memory and on the config drive only (a restart never
    // resumes a started VM, so it is never written anywhere else).
    const markerKey = newMarkerKey();
    const markers = new ConsoleMarkers(markerKey);
    const tail = new ConsoleTail(files.consoleLog, (text, offset) => {
      markers.push(text);
      plan.onText?.(text, markers);
      d.output(rec, text, offset);
    });
    try {
      if (!image) throw new BootStepError(rec.vmId, "no-image", `no ${shape.arch} image ${shape.image}`);
      let t = performance.now();
      await this.step("disk", () =>
        ensureRootDisk(d.exec, { base: image.rootfs, path: files.rootDisk, format: d.driver.rootDiskFormat, diskGiB: shape.diskGiB }),
      );
      timings.diskMs = elapsed(t);

      t = performance.now();
      const net = this.netPlan();
      await plan.config(net, markerKey, files);
      timings.configMs = elapsed(t);

      t = performance.now();
      await this.step("network", async () => {
        await d.links.ensureTap(net.tap, d.bridge, net.mac);
        await d.nft.ensureVmRules(d.bridge, this.isolationOf(net), d.netRate.shared);
        this.netReady = net;
      });
      timings.netMs = elapsed(t);

      if (this.killReason) throw new BootStepError(rec.vmId, "killed", this.killReason);
      t = spawnAt = performance.now();
      vm = await this.step("vmm-start", () =>
        d.driver.start({
          vmId: rec.vmId,
          arch: shape.arch,
          vcpus: shape.vcpus,
          memMiB: shape.memMiB,
          kernel: image.kernel,
          initrd: image.initrd,
          rootDisk: files.rootDisk,
          configDisk: files.configDisk,
          ...(plan.jobDisk ? { jobDisk: plan.jobDisk } : {}),
          net: { tap: net.tap, mac: net.mac },
          runDir: this.runDir,
          consoleLog: files.consoleLog,
          consoleMaxBytes: d.consoleMaxBytes,
          accel: d.accel,
        }),
      );
      timings.vmmStartMs = elapsed(t);
      tail.start();
    } catch (e) {
      const err = e instanceof BootStepError ? e : new BootStepError(rec.vmId, "internal", String(e), { cause: e });
      if (vm) await d.driver.stop(rec.vmId, this.runDir, 2_000).catch(() => undefined);
      await tail.stop();
      return { failed: err, files };
    }
    let exited = false;
    void vm.exited.then(() => (exited = true));
    const started = vm;
    return {
      vm: started,
      markers,
      tail,
      timings,
      files,
      exited: () => exited,
      agentUp: () => {
        timings.agentReadyMs = elapsed(spawnAt);
        timings.totalMs = elapsed(t0);
      },
    };
  }

  /**
   * The job's files as a cold config drive holds them (docs/guest-contract.md): its script
   * (inline, or from its JobQueued for records from before JobScheduled carried it) and its
   * launch; a runner's launch is requested from the broker now and opened with the host key.
   */
  protected async jobFiles(log: Logger, net?: VmNet): Promise<Record<string, DriveFile>> {
    const { rec, d } = this;
    const script = rec.kind === "script" ? (rec.script ?? (await this.step("config", () => d.jobScript(rec.jobId)))) : undefined;
    let launch = scriptLaunch();
    if (rec.kind === "runner") {
      const opened = await this.step("runner-config", () => d.runnerLaunch(rec));
      launch = opened.launch;
      // For logs only: the launch itself (argv, env) stays off the record, which is not a secret store.
      rec.provider = opened.provider;
      rec.runnerName = opened.runnerName;
      log.info({ provider: opened.provider, runnerName: opened.runnerName, user: launch.user, argc: launch.argv.length }, "runner launch received");
    }
    return configDriveFiles({
      source: rec.kind,
      jobId: rec.jobId,
      hostname: `oneshot-${rec.vmId}`,
      timeoutSec: rec.spec.timeoutSec,
      launch,
      ...(script !== undefined ? { script } : {}),
      ...(net ? { net } : {}),
      env: { ONESHOT_JOB_ID: rec.jobId, ONESHOT_VM_ID: rec.vmId, ONESHOT_HOST_ID: d.hostId, ONESHOT_ATTEMPT: String(rec.attempt) },
    });
  }

  /** VmBooted: the agent took the job (a warm VM's says so, and how long its hand-over took). */
  protected async appendBooted(vm: RunningVm, timings: Partial<BootTimings>, warm?: { handOverMs: number }): Promise<void> {
    const { rec, d } = this;
    await d.events.append(rec, this.runDir, "VmBooted", {
      vmId: rec.vmId,
      hostId: d.hostId,
      jobId: rec.jobId,
      vmm: d.driver.name,
      accel: d.accel,
      pid: vm.pid,
      timings: timings as BootTimings,
      ...(warm ? { start: "warm" as const, handOverMs: warm.handOverMs } : {}),
    });
  }

  /** Reads the console until `done`, the VM ends, a kill, or `timeoutMs`: every `everyMs`, and at once when `wake` resolves. */
  protected async waitForConsole(b: Booted, done: () => boolean, timeoutMs: number, everyMs: number, wake?: () => Promise<void>): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!done() && !b.exited() && !this.killReason && performance.now() < deadline) {
      await Promise.race([b.vm.exited, this.killed, new Promise((r) => setTimeout(r, everyMs)), ...(wake ? [wake()] : [])]);
      await b.tail.poll();
    }
  }

  /** Stops the VMM (a kill's grace, else 2 s), waits for it, reads the console one last time. */
  protected async stopVm(vm: RunningVm, tail: ConsoleTail): Promise<void> {
    await this.d.driver.stop(this.rec.vmId, this.runDir, this.killGraceMs ?? 2_000).catch(() => undefined);
    await vm.exited;
    await tail.stop();
  }

  /** Run: until the VM ends, its timeout, or a kill. After the exit marker it powers off. Then VmExited and the destroy. */
  protected async runToExit(vm: RunningVm, markers: ConsoleMarkers, tail: ConsoleTail, readyAt: number, isExited: () => boolean, log: Logger): Promise<void> {
    const { rec, d } = this;
    let cause: StopCause;
    const deadline = readyAt + (rec.spec.timeoutSec + d.timeoutGraceSec) * 1000;
    let markerAt: number | undefined;
    while (!isExited()) {
      await Promise.race([vm.exited, this.killed, new Promise((r) => setTimeout(r, 100))]);
      if (isExited()) break;
      const now = performance.now();
      if (markers.exitCode !== undefined) markerAt ??= now;
      if (this.killReason) cause = "killed";
      else if (now >= deadline) cause = "timeout";
      else if (markerAt !== undefined && now - markerAt > (d.poweroffGraceMs ?? 20_000)) cause = undefined;
      else continue;
      log.info({ cause: cause ?? "no-poweroff", reason: this.killReason }, "stopping VM");
      await d.driver.stop(rec.vmId, this.runDir, this.killGraceMs ?? 3_000);
      break;
    }
    await vm.exited;
    await tail.stop();
    const outcome = exitOutcome(markers.exitCode, cause);
    // What the job printed as markers without the key: ignored, but an attempt is worth a line.
    if (markers.forged) log.warn({ forgedMarkers: markers.forged }, "console lines that looked like agent markers had no valid MAC: ignored");
    rec.phase = "exited";
    await d.events.append(rec, this.runDir, "VmExited", { vmId: rec.vmId, hostId: d.hostId, jobId: rec.jobId, ...outcome, runMs: elapsed(readyAt) });
    log.info({ ...outcome }, "VM exited");
    await this.destroy(log);
  }

  protected netPlan(): VmNet {
    const { rec, d } = this;
    const address = d.addresses.take(rec.vmId, rec.net?.address);
    const net = vmNetFor(rec.vmId, d.subnet, address, d.dns);
    rec.net = { address: net.address, mac: net.mac, tap: tapName(rec.vmId) };
    return net;
  }

  protected async step<T>(code: string, f: () => Promise<T>): Promise<T> {
    if (this.killReason) throw new BootStepError(this.rec.vmId, "killed", this.killReason);
    try {
      return await f();
    } catch (e) {
      if (e instanceof BootStepError) throw e;
      if (e instanceof VmmError && e.refusal) throw new BootStepError(this.rec.vmId, e.code, e.message, { cause: e });
      throw new BootStepError(this.rec.vmId, code, e instanceof Error ? e.message : String(e), { cause: e });
    }
  }

  protected async failBoot(code: string, reason: string, consoleLog: string, log: Logger): Promise<void> {
    const { rec, d } = this;
    await d.events.append(rec, this.runDir, "VmBootFailed", {
      vmId: rec.vmId,
      hostId: d.hostId,
      jobId: rec.jobId,
      code,
      reason: reason.slice(0, 1024),
      consoleTail: await consoleTail(consoleLog),
    });
    await this.destroy(log);
  }

  protected isolationOf(net: VmNet): VmIsolation {
    const { rec } = this;
    const causationId = rec.events.VmBooted ?? rec.events.VmBootRequested ?? rec.scheduledEventId;
    return {
      vmId: rec.vmId,
      net,
      bytesPerSec: mbitToBytesPerSec(vmRate(this.d.netRate.policy, rec.spec.netMbit).mbit),
      // The egress policy (docs/egress-policy.md) is read from the record each time: a warm VM's changes at hand-over.
      egress: vmEgressOf(rec.spec.egress),
      owner: {
        jobId: rec.jobId,
        correlationId: rec.correlationId,
        ...(causationId ? { causationId } : {}),
        ...(rec.spec.egress ? { policy: rec.spec.egress } : {}),
      },
    };
  }

  /** What the isolation guard must keep in place for this VM: from its rules' creation until its destroy begins. */
  isolation(): VmIsolation | undefined {
    return this.netReady && !this.netClosed ? this.isolationOf(this.netReady) : undefined;
  }

  /** Destroy steps, then VmDestroyed. Retried: a step that failed (busy tap, nft hiccup) gets another go. */
  async destroy(log: Logger): Promise<void> {
    const { rec, d } = this;
    this.netClosed = true;
    const removed = await destroyVmRetrying(d, rec.vmId, this.runDir, log);
    d.addresses.release(rec.vmId);
    removed.push(`rundir:${this.runDir}`);
    // Journal first, then remove the record: once VmDestroyed is visible, nothing of the VM is left.
    const order = ["VmExited", "VmBootFailed", "VmBooted", "VmBootRequested"] as const;
    const causationId = order.map((t) => rec.events[t]).find(Boolean) ?? rec.scheduledEventId;
    // A full disk must not keep VmDestroyed from the log (its capacity would stay reserved): the
    // journal only guards a crash in the next two lines, the janitor's VmVanished is the backstop.
    if (!rec.events.VmDestroyed) {
      await d
        .markDestroying({ vmId: rec.vmId, jobId: rec.jobId, correlationId: rec.correlationId, causationId, removed: removed.slice(-32) })
        .catch((err: unknown) => log.warn({ err }, "cannot journal the destroy (disk full?): storing VmDestroyed without it"));
    }
    await removeRunDir(this.runDir);
    await d.events.append(rec, undefined, "VmDestroyed", { vmId: rec.vmId, hostId: d.hostId, jobId: rec.jobId, removed: removed.slice(-32) });
    await d.markDone(rec.vmId).catch((err: unknown) => log.warn({ err }, "cannot journal VmDestroyed as done (disk full?)"));
    log.info({ removed }, "VM destroyed");
  }
}

/** The last 8 KiB of the console (VmBootFailed.consoleTail). */
export async function consoleTail(path: string, max = 8000): Promise<string> {
  const fh = await open(path, "r").catch(() => undefined);
  if (!fh) return "";
  try {
    const { size } = await fh.stat();
    const start = Math.max(0, size - max);
    const buf = Buffer.alloc(size - start);
    await fh.read(buf, 0, buf.length, start);
    return buf.toString("utf8").slice(-max);
  } finally {
    await fh.close();
  }
}
