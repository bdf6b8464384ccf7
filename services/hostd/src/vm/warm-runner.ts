import { watch, type FSWatcher } from "node:fs";
import { join } from "node:path";
import type { BootTimings, DomainEvent, WarmShape, WarmVmRetired } from "@oneshot/proto";
import type { EventStore, Logger } from "@oneshot/runtime";
import { buildConfigDrive, type DriveFile } from "./config-drive.js";
import { vmEgressOf } from "../egress/policy.js";
import { destroyVmRetrying } from "./destroy.js";
import { createJobDrive, fillJobDrive } from "./job-drive.js";
import { bootFailureOf } from "./outcome.js";
import { removeRunDir, writeRecord, type VmRecord } from "./run-dir.js";
import { BootStepError, VmRunner, type VmDeps } from "./vm-runner.js";

export type RetireReason = WarmVmRetired["data"]["reason"];

/** What a warm VM needs beyond a cold one's deps. */
export interface WarmDeps {
  store: EventStore;
  /** A ready warm VM older than this is retired (and its pool refills). */
  maxAgeMs: number;
}

const elapsed = (t: number) => Math.round((performance.now() - t) * 10) / 10;

/** The job drive's file in a run dir. */
export const jobDiskOf = (runDir: string): string => join(runDir, "job.raw");

/** The record of a pool VM before it has a job: its job id is `warm-<vmId>` until the hand-over. */
export function warmRecord(hostId: string, vmId: string, shape: WarmShape, now: Date): VmRecord {
  return {
    vmId,
    jobId: `warm-${vmId}`,
    hostId,
    attempt: 0,
    kind: "script",
    spec: { ...shape, timeoutSec: 1 },
    correlationId: `warm-${vmId}`,
    scheduledEventId: `warm-${vmId}`,
    phase: "accepted",
    acceptedAt: now.toISOString(),
    events: {},
  };
}

/**
 * A warm pool VM (docs/warm-pool.md): boots with nothing job-specific (its own disk, tap, rules,
 * a config drive with only its hostname, network and marker key, and an empty job drive),
 * says VmWarmed once its agent waits, then either is handed one job (`handOver`: the job goes
 * into the job drive, the rest is a cold VM's life from the ready marker on) or is retired
 * (max age, kill, its VMM ending) with WarmVmRetired. It never runs a second job.
 */
export class WarmVmRunner extends VmRunner {
  state: "booting" | "warm" | "handed-over" | "retired" = "booting";
  /** performance.now() of VmWarmed; for the pool's age metric. */
  warmedAt: number | undefined;
  /** Boot start → VmWarmed (ms), once warm. */
  bootMs: number | undefined;
  private retireReason: RetireReason = "killed";
  private handOverAt!: (t: number) => void;
  /** The job's claim on the log (its VmBootRequested): VmBooted waits for it. */
  private claimed: Promise<unknown> = Promise.resolve();
  private readonly handedOver = new Promise<number>((r) => (this.handOverAt = r));
  /** Resolves true once warm, false if it ended before. */
  readonly warm: Promise<boolean>;
  private resolveWarm!: (ok: boolean) => void;

  constructor(
    d: VmDeps,
    private readonly w: WarmDeps,
    rec: VmRecord,
    runDir: string,
    readonly shape: WarmShape,
  ) {
    super(d, rec, runDir);
    this.warm = new Promise((r) => (this.resolveWarm = r));
  }

  /**
   * The caller has put the job into `rec`: hand it over. `claimed` settles once the caller's
   * VmBootRequested is stored: the job drive is filled meanwhile, VmBooted waits for it. False
   * when the VM is not (or no longer) waiting for a job.
   */
  handOver(placementReadAt: number, claimed: Promise<unknown> = Promise.resolve()): boolean {
    if (this.state !== "warm" || this.killReason) return false;
    this.state = "handed-over";
    this.claimed = claimed.catch(() => undefined);
    this.handOverAt(placementReadAt);
    return true;
  }

  /** Ends a VM that has no job (yet): WarmVmRetired says why. */
  retire(reason: RetireReason, detail: string, graceMs?: number): Promise<void> {
    if (this.state !== "handed-over") this.retireReason = reason;
    return this.kill(detail, graceMs);
  }

  protected override async lifecycle(log: Logger): Promise<void> {
    const { rec, d } = this;
    const jobDisk = jobDiskOf(this.runDir);
    // The agent's own account of the hand-over (`oneshot: hand-over us …`, before its ready
    // marker), and when hostd read the job's start marker: the hand-over's phases, logged.
    const trace = new HandOverTrace();
    const booted = await this.boot(log, {
      shape: this.shape,
      // Only what is the VM's own (hostname, network, ids, marker key), and an empty job drive.
      config: async (net, markerKey, files) => {
        await this.step("config", () =>
          buildConfigDrive(
            d.exec,
            files.configDisk,
            warmConfigFiles(`oneshot-${rec.vmId}`, { net }, { ONESHOT_VM_ID: rec.vmId, ONESHOT_HOST_ID: d.hostId }),
            markerKey,
          ),
        );
        await this.step("config", () => createJobDrive(jobDisk));
      },
      jobDisk,
      onText: (text, markers) => trace.push(text, markers.jobStarted),
    });
    if ("failed" in booted) {
      log.warn({ err: booted.failed, code: booted.failed.code }, "warm VM boot failed");
      return this.retireNow(this.killReason ? this.retireReason : "boot-failed", booted.failed.message, log);
    }
    const { vm, markers, tail, timings, files } = booted;

    // From the hand-over on, the console is read as soon as it changes (inotify), not on the
    // tail's timer: the ready and start markers are on the pickup's path.
    let watcher: FSWatcher | undefined;
    let changed: () => void = () => undefined;
    const nextChange = () => new Promise<void>((r) => (changed = r));
    const waitFor = (done: () => boolean) => this.waitForConsole(booted, done, d.bootTimeoutSec * 1000, 20, nextChange);
    const watchConsole = () => {
      let reading = false;
      let again = false;
      watcher = watch(files.consoleLog, () => {
        changed();
        if (reading) return void (again = true);
        reading = true;
        void (async () => {
          do {
            again = false;
            await tail.poll();
          } while (again);
          reading = false;
        })();
      });
      watcher.on("error", () => undefined);
    };
    await waitFor(() => markers.agentWarm);
    if (!markers.agentWarm) {
      const f = bootFailureOf(markers, { exited: booted.exited(), killed: !!this.killReason, bootTimeoutSec: d.bootTimeoutSec });
      await this.stopVm(vm, tail);
      return this.retireNow(this.killReason ? this.retireReason : "boot-failed", `${f.code}: ${f.reason}`, log);
    }
    booted.agentUp();
    rec.phase = "running";
    await writeRecord(this.runDir, rec);
    await this.appendOwn({
      type: "VmWarmed",
      data: { hostId: d.hostId, vmId: rec.vmId, shape: this.shape, vmm: d.driver.name, accel: d.accel, timings: timings as BootTimings },
    });
    this.state = "warm";
    this.warmedAt = performance.now();
    this.bootMs = timings.totalMs;
    this.resolveWarm(true);
    log.info({ timings, shape: this.shape }, "warm VM ready");

    // Wait for a job, the max age, a kill, or the VM ending on its own.
    let ageTimer: NodeJS.Timeout | undefined;
    const aged = new Promise<void>((r) => (ageTimer = setTimeout(r, this.w.maxAgeMs)));
    const got = await Promise.race([this.handedOver, this.killed.then(() => undefined), vm.exited.then(() => undefined), aged.then(() => "aged" as const)]);
    clearTimeout(ageTimer);
    if (typeof got !== "number" || (this.state as WarmVmRunner["state"]) !== "handed-over") {
      const reason: RetireReason = got === "aged" ? "max-age" : this.killReason ? this.retireReason : "killed";
      const detail =
        got === "aged" ? `warm for ${Math.round(this.w.maxAgeMs / 1000)}s (HOSTD_WARM_MAX_AGE_SEC)` : (this.killReason ?? "the VMM ended on its own");
      this.state = "retired";
      await this.stopVm(vm, tail);
      return this.retireNow(reason, detail, log);
    }

    // The hand-over: the job's launch (a runner's credential is minted now, never at fill),
    // then the job drive, then the ready marker as for a cold VM.
    const placementReadAt = got;
    const jlog = d.log.child({ vmId: rec.vmId, jobId: rec.jobId });
    const phase: Record<string, number> = {};
    let mark = placementReadAt;
    const lap = (name: string) => {
      const now = performance.now();
      phase[name] = Math.round((now - mark) * 10) / 10;
      mark = now;
    };
    try {
      watchConsole();
    } catch (err) {
      jlog.warn({ err }, "cannot watch the console: reading it on the timer");
    }
    try {
      const jobFiles = await this.jobFiles(jlog);
      // The VM's own facts were set up at boot; the job drive holds only the job's.
      delete jobFiles.hostname;
      delete jobFiles.net;
      lap("launchMs");
      // The pool VM was booted open; a job with an allow or audit policy gets its elements before
      // the doorbell (one nft transaction), so not one packet of the job leaves under the pool's policy.
      const net = this.netReady;
      if (net && vmEgressOf(rec.spec.egress).mode !== "open") {
        await this.step("network", () => d.nft.ensureVmRules(d.bridge, this.isolationOf(net), d.netRate.shared));
        lap("egressMs");
      }
      await this.step("config", () => fillJobDrive(jobDisk, jobFiles));
      lap("fillMs");
      if (d.driver.handOver) await this.step("config", () => d.driver.handOver!(rec.vmId, this.runDir, jobDisk));
      lap("doorbellMs");
    } catch (e) {
      const err = e instanceof BootStepError ? e : new BootStepError(rec.vmId, "internal", String(e), { cause: e });
      jlog.warn({ err, code: err.code }, "hand-over failed");
      watcher?.close();
      await this.stopVm(vm, tail);
      return this.failBoot(err.code, err.message, files.consoleLog, jlog);
    }
    await waitFor(() => markers.agentReady);
    if (!markers.agentReady) {
      watcher?.close();
      const f = bootFailureOf(markers, { exited: booted.exited(), killed: !!this.killReason, bootTimeoutSec: d.bootTimeoutSec });
      await this.stopVm(vm, tail);
      jlog.warn({ code: f.code }, "warm VM did not take its job");
      return this.failBoot(f.code, f.reason, files.consoleLog, jlog);
    }
    const readyAt = performance.now();
    const handOverMs = elapsed(placementReadAt);
    lap("guestMs");
    void trace.started.then((at) => {
      phase.startMarkerMs = Math.round((at - readyAt) * 10) / 10;
      jlog.info(
        { handOverMs, readAtEpochMs: Math.round((performance.timeOrigin + placementReadAt) * 10) / 10, phases: phase, guestUs: trace.guest },
        "hand-over phases",
      );
    });
    await this.claimed;
    await this.appendBooted(vm, timings, { handOverMs });
    jlog.info({ handOverMs, warmForMs: Math.round(readyAt - (this.warmedAt ?? readyAt)) }, "job handed to a warm VM");
    try {
      await this.runToExit(vm, markers, tail, readyAt, booted.exited, jlog);
    } finally {
      watcher?.close();
      trace.end();
    }
  }

  /** A pool VM that never had a job: the destroy steps, then WarmVmRetired (no VmDestroyed: it was never a job's). */
  private async retireNow(reason: RetireReason, detail: string, log: Logger): Promise<void> {
    const { rec, d } = this;
    this.state = "retired";
    this.resolveWarm(false);
    this.netClosed = true;
    const removed = await destroyVmRetrying(d, rec.vmId, this.runDir, log, "warm VM destroy");
    d.addresses.release(rec.vmId);
    await removeRunDir(this.runDir);
    removed.push(`rundir:${this.runDir}`);
    await this.appendOwn({
      type: "WarmVmRetired",
      data: { hostId: d.hostId, vmId: rec.vmId, reason, detail: detail.slice(0, 512), removed: removed.slice(-32) },
    }).catch((err: unknown) => log.warn({ err }, "cannot append WarmVmRetired"));
    log.info({ reason, detail }, "warm VM retired");
  }

  /** VmWarmed / WarmVmRetired: once per VM (msgId), on the VM's subject, retried while the store is down. */
  private async appendOwn(event: Extract<DomainEvent, { type: "VmWarmed" | "WarmVmRetired" }>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.w.store.append(event, { msgId: `vm:${this.rec.vmId}:${event.type}`, correlationId: this.rec.correlationId });
        return;
      } catch (e) {
        if (!(e as { retryable?: boolean }).retryable || attempt >= 20) throw e;
        await new Promise((r) => setTimeout(r, Math.min(5_000, 200 * attempt)));
      }
    }
  }
}

/** A warm VM's config drive: only what is the VM's own (docs/warm-pool.md). */
export function warmConfigFiles(hostname: string, o: { net?: import("../net/vm-address.js").VmNet }, env: Record<string, string>): Record<string, DriveFile> {
  const file = (content: string, mode = 0o644): DriveFile => ({ content, mode });
  const files: Record<string, DriveFile> = {
    version: file("2\n"),
    kind: file("warm\n"),
    hostname: file(`${hostname}\n`),
    env: file(
      Object.entries(env)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(""),
    ),
  };
  if (o.net) files.net = file(`address=${o.net.address}/${o.net.prefix}\ngateway=${o.net.gateway}\ndns=${o.net.dns}\n`);
  return files;
}

/**
 * Reads the hand-over's account off the console (pure but for the clock): the agent's
 * `oneshot: hand-over us k=v …` line (µs since it saw the doorbell; printed before its ready
 * marker, so no job wrote it) and the moment the start marker was read.
 */
export class HandOverTrace {
  guest: Record<string, number> | undefined;
  readonly started: Promise<number>;
  private resolveStarted!: (at: number) => void;
  private partial = "";
  private pastReady = false;
  private done = false;

  constructor() {
    this.started = new Promise((r) => (this.resolveStarted = r));
  }

  push(text: string, jobStarted: boolean): void {
    if (this.done) return;
    if (!this.pastReady) {
      const lines = (this.partial + text).split("\n");
      this.partial = (lines.pop() ?? "").slice(-512);
      for (const line of lines) {
        if (line.startsWith("ONESHOT-AGENT-READY")) {
          this.pastReady = true;
          break;
        }
        const m = /^oneshot: hand-over us ((?:[a-z]+=\d+ ?)+)\r?$/.exec(line);
        if (m)
          this.guest = Object.fromEntries(
            m[1]!
              .trim()
              .split(" ")
              .map((kv) => [kv.split("=")[0]!, Number(kv.split("=")[1])]),
          );
      }
    }
    if (jobStarted) {
      this.done = true;
      this.resolveStarted(performance.now());
    }
  }

  /** The VM ended: a start marker never read resolves nothing (the log line is not written). */
  end(): void {
    this.done = true;
  }
}
