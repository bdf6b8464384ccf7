import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DeliverPolicy } from "@nats-io/jetstream";
import {
  decode,
  streams,
  subjects,
  vmIdFor,
  type DomainEvent,
  type HostHeartbeat,
  type HostInventory,
  type JobSpec,
  type Stored,
  type VmOutput,
} from "@oneshot/proto";
import { PULL_EXPIRES_MS, type EventStore, type Nats } from "@oneshot/runtime";
import { connectTest, freePort, startNats, waitFor, WaitAborted, type TestNats } from "@oneshot/testing";
import { exec } from "../host/exec.js";
import { Links } from "../net/links.js";
import { Nft } from "../net/nft.js";
import { testNames } from "./names.js";

export const repoRoot = resolve(import.meta.dirname, "..", "..", "..", "..");
const hostdMain = join(repoRoot, "services", "hostd", "dist", "main.js");

/** Where guest images come from in tests: ONESHOT_IMAGE_DIR, else the repo's images/out. */
export const testImageDir = (): string => process.env.ONESHOT_IMAGE_DIR ?? join(repoRoot, "images", "out");

/** Why guest tests cannot run here (printed by the caller), or undefined. */
export function missingImage(arch: "amd64" | "arm64"): string | undefined {
  const dir = join(testImageDir(), arch);
  for (const f of ["vmlinuz", "initrd.img", "rootfs.ext4", "manifest.json"]) {
    if (!existsSync(join(dir, f))) {
      const why = `no ${arch} guest image at ${dir} (run images/build-minimal.sh ${arch}, or set ONESHOT_IMAGE_DIR)`;
      process.stderr.write(`SKIP (image-${arch}): ${why}\n`);
      return why;
    }
  }
  if (!existsSync(hostdMain)) {
    const why = `${hostdMain} missing: run \`npx tsc -b services/hostd\` first`;
    process.stderr.write(`SKIP (hostd-build): ${why}\n`);
    return why;
  }
  return undefined;
}

export interface JobOpts {
  /** A local job's inline script (in JobQueued and JobScheduled); absent: a provider job, whose launch hostd asks the broker for. */
  script?: string;
  spec?: Partial<JobSpec>;
  /** Default `loc-<random>` (with a script) or `run-<random>` (without). hostd never looks at it. */
  jobId?: string;
}

/**
 * A real nats-server, the real hostd process (`node services/hostd/dist/main.js`) on a
 * bridge/subnet/state dir of its own, and the test acting as the scheduler: it appends
 * JobQueued + JobScheduled and watches the events hostd writes.
 */
export class HostdHarness {
  readonly names = testNames("osht");
  readonly hostId = this.names.hostId;
  readonly state = mkdtempSync(join(tmpdir(), "oneshot-hostd-test-"));
  events: Stored<DomainEvent>[] = [];
  output = new Map<string, VmOutput["data"][]>();
  /** HostInventory reports (VM ids only), with the EVENTS stream's last sequence when each arrived. */
  heartbeats: HostHeartbeat["data"][] = [];
  inventories: { at: number; vms: string[]; taps: string[]; nftRules: string[]; runDirs: string[] }[] = [];
  logs = "";
  private server!: TestNats;
  nats!: Nats;
  store!: EventStore;
  private closeNats!: () => Promise<void>;
  private proc: ChildProcess | undefined;
  /** Set while a test stops hostd on purpose. */
  expectExit = false;
  private stops: (() => Promise<void>)[] = [];

  /** Extra hostd environment; may be changed until `start()`. */
  constructor(readonly env: Record<string, string> = {}) {}

  async start(): Promise<void> {
    this.server = await startNats();
    const c = await connectTest(this.server.url, "hostd-test");
    this.nats = c.nats;
    this.store = c.store;
    this.closeNats = c.close;
    this.stops.push(await this.store.follow("evt.>", (e) => void this.events.push(e)));
    const logs = await this.nats.js.consumers.get(streams.logs.name, { filter_subjects: `log.host.${this.hostId}.>`, deliver_policy: DeliverPolicy.All });
    const iter = await logs.consume({ max_messages: 256, expires: PULL_EXPIRES_MS });
    const done = (async () => {
      for await (const m of iter) {
        const o = decode(m.data).data as VmOutput["data"];
        this.output.set(o.vmId, [...(this.output.get(o.vmId) ?? []), o]);
      }
    })();
    this.stops.push(async () => {
      await iter.close();
      await done;
    });
    const invSub = this.nats.nc.subscribe(subjects.inventory(this.hostId), {
      callback: (_err, m) => {
        const d = decode(m.data).data as HostInventory["data"];
        const at = this.events.at(-1)?.seq ?? 0;
        this.inventories.push({ at, vms: d.vms.map((v) => v.vmId), taps: d.taps, nftRules: d.nftRules, runDirs: d.runDirs });
      },
    });
    const beatSub = this.nats.nc.subscribe(subjects.heartbeat(this.hostId), {
      callback: (_err, m) => void this.heartbeats.push(decode(m.data).data as HostHeartbeat["data"]),
    });
    this.stops.push(async () => {
      invSub.unsubscribe();
      beatSub.unsubscribe();
    });
    await this.startHostd();
  }

  async startHostd(): Promise<void> {
    const port = await freePort();
    const env = {
      ...process.env,
      NATS_URL: this.server.url,
      ONESHOT_STATE_DIR: this.state,
      LOG_LEVEL: "debug",
      HOSTD_HOST_ID: this.hostId,
      HOSTD_BRIDGE: this.names.bridge,
      HOSTD_SUBNET: this.names.subnet,
      HOSTD_HTTP_PORT: String(port),
      HOSTD_IMAGE_DIR: testImageDir(),
      HOSTD_HEARTBEAT_INTERVAL: "1",
      HOSTD_INVENTORY_INTERVAL: "1",
      ...this.env,
    };
    const before = this.events.length;
    this.proc = spawn(process.execPath, [hostdMain], { env, stdio: ["ignore", "pipe", "pipe"] });
    this.proc.stdout!.on("data", (d: Buffer) => (this.logs += d.toString()));
    this.proc.stderr!.on("data", (d: Buffer) => (this.logs += d.toString()));
    const proc = this.proc;
    process.once("exit", () => proc.kill("SIGKILL"));
    await waitFor(
      "hostd to register",
      () => {
        if (proc.exitCode !== null) throw new Error(`hostd exited ${proc.exitCode}:\n${this.logs.slice(-4000)}`);
        return this.events.slice(before).find((e) => e.type === "HostRegistered" && e.data.hostId === this.hostId);
      },
      120_000,
      100,
    );
  }

  /** Sends a signal to hostd (SIGKILL: a crash) and waits for it to exit. */
  async killHostd(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once("exit", () => r()));
    p.kill(signal);
    await exited;
  }

  /** Starts hostd again when it is not running (after a test that failed between a kill and a restart). */
  async ensureHostd(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) return;
    this.expectExit = false;
    await this.startHostd();
  }

  /** SIGTERM and wait (hostd destroys its VMs first). */
  async stopHostd(): Promise<number | null> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return p?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
    p.kill("SIGTERM");
    return exited;
  }

  /** Appends what a scheduler would: JobQueued on the job subject (local jobs), JobScheduled on this host's. */
  async schedule(o: JobOpts): Promise<{ jobId: string; vmId: string; correlationId: string }> {
    const jobId = o.jobId ?? `${o.script !== undefined ? "loc" : "run"}-${randomBytes(8).toString("hex")}`;
    const vmId = vmIdFor(jobId, 0);
    const correlationId = `test-${jobId}`;
    const spec: JobSpec = { arch: "amd64", vcpus: 1, memMiB: 256, diskGiB: 1, image: "minimal", timeoutSec: 120, ...o.spec };
    const q =
      o.script !== undefined
        ? await this.store.append(
            {
              type: "JobQueued",
              data: { jobId, source: { provider: "local", repo: "local", org: "local", providerJobId: jobId, labels: [] }, spec, script: o.script },
            },
            { correlationId, msgId: `q:${jobId}` },
          )
        : undefined;
    const script = o.script !== undefined ? { script: o.script } : {};
    await this.store.append(
      { type: "JobScheduled", data: { jobId, hostId: this.hostId, vmId, spec, attempt: 0, ...script } },
      { correlationId, causationId: q?.id ?? null, msgId: `sched:${jobId}:0` },
    );
    return { jobId, vmId, correlationId };
  }

  async append(e: DomainEvent): Promise<void> {
    await this.store.append(e, { correlationId: `test-${randomBytes(4).toString("hex")}` });
  }

  vmEvents(vmId: string): Stored<DomainEvent>[] {
    return this.events.filter((e) => e.subject === subjects.vm(this.hostId, vmId));
  }

  async waitEvent<T extends DomainEvent["type"]>(type: T, vmId?: string, timeoutMs = 240_000): Promise<Stored<Extract<DomainEvent, { type: T }>>> {
    return waitFor(
      `${type}${vmId ? ` of ${vmId}` : ""}`,
      () => {
        const p = this.proc;
        if (p && (p.exitCode !== null || p.signalCode !== null) && !this.expectExit)
          throw new WaitAborted(`hostd exited ${p.exitCode ?? p.signalCode} while waiting for ${type}:\n${this.logs.slice(-4000)}`);
        return this.events.find((e) => e.type === type && (!vmId || (e.data as { vmId?: string }).vmId === vmId));
      },
      timeoutMs,
      100,
      () => `hostd's last log lines:\n${this.logs.slice(-4000)}`,
    ) as Promise<Stored<Extract<DomainEvent, { type: T }>>>;
  }

  /** The VM's console as hostd published it (VmOutput chunks in offset order). */
  consoleText(vmId: string): string {
    return [...(this.output.get(vmId) ?? [])]
      .sort((a, b) => a.offset - b.offset)
      .map((o) => o.text)
      .join("");
  }

  /** Whatever of a VM is still on the machine: processes, tap, nft rules, files. Empty when destroyed. */
  leftovers(vmId: string): string[] {
    const found: string[] = [];
    const procs = spawnSync("pgrep", ["-af", `oneshot-${vmId}`], { encoding: "utf8" }).stdout.trim();
    if (procs) found.push(...procs.split("\n").map((l) => `process: ${l}`));
    if (spawnSync("ip", ["link", "show", `os-${vmId}`]).status === 0) found.push(`tap: os-${vmId}`);
    if (spawnSync("nft", ["list", "ruleset"], { encoding: "utf8" }).stdout.includes(`oneshot:${vmId}`)) found.push(`nft: oneshot:${vmId}`);
    const files = spawnSync("find", [this.state, "-name", `*${vmId}*`], { encoding: "utf8" }).stdout.trim();
    if (files) found.push(...files.split("\n").map((f) => `file: ${f}`));
    return found;
  }

  runDirs(): string[] {
    return existsSync(join(this.state, "hostd", "vms")) ? readdirSync(join(this.state, "hostd", "vms")) : [];
  }

  /** Stops everything this harness started and removes the bridge and base tables hostd keeps. */
  async dispose(): Promise<void> {
    await this.stopHostd().catch(() => undefined);
    for (const s of this.stops.reverse()) await s().catch(() => undefined);
    await this.closeNats?.().catch(() => undefined);
    await this.server?.dispose();
    await new Nft(exec).removeBase(this.names.bridge).catch(() => undefined);
    await new Links(exec).remove(this.names.bridge).catch(() => undefined);
    rmSync(this.state, { recursive: true, force: true });
  }
}
