// Integration-test helpers: janitor processes (the built dist/main.js, as production runs it),
// their metrics, and a scripted stand-in for hostd that publishes real telemetry on a real
// nats-server and answers reclaim requests the way the contract says.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { encode, subjects, type DomainEvent, type EventOf, type HostInventory, type Message, type Stored } from "@oneshot/proto";
import { newEventId, publishMessage, type EventStore, type Nats } from "@oneshot/runtime";
import { freePort, waitFor } from "@oneshot/testing";

const main = join(import.meta.dirname, "..", "dist", "main.js");

export interface JanitorProc {
  port: number;
  proc: ChildProcess;
  output: () => string;
  metric: (name: string, labels?: Record<string, string>) => Promise<number>;
  /** SIGTERM and wait. */
  stop: () => Promise<void>;
  kill9: () => Promise<void>;
}

export async function startJanitorProcess(natsUrl: string, env: Record<string, string> = {}): Promise<JanitorProc> {
  if (!existsSync(main)) throw new Error(`${main} missing: run \`npx tsc -b services/janitor\` first`);
  const port = await freePort();
  const proc = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      NATS_URL: natsUrl,
      JANITOR_HTTP_PORT: String(port),
      LOG_LEVEL: "debug",
      JANITOR_INTERVAL: "1",
      JANITOR_HOST_LOST_AFTER: "4",
      JANITOR_GRACE: "3",
      JANITOR_DESTROY_GRACE: "1",
      JANITOR_LEASE_TTL: "3",
      JANITOR_RECLAIM_TIMEOUT: "5",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  process.once("exit", () => proc.kill("SIGKILL"));
  let out = "";
  proc.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const metricsText = async () => (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2_000) })).text();
  await waitFor(
    "janitor /healthz",
    async () => {
      if (proc.exitCode !== null) throw new Error(`janitor exited ${proc.exitCode}:\n${out}`);
      return (await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1_000) })).ok;
    },
    20_000,
    100,
  ).catch((e: Error) => {
    proc.kill("SIGKILL");
    throw new Error(`${e.message}\n${out}`);
  });
  return {
    port,
    proc,
    output: () => out,
    metric: async (name, labels = {}) => sumMetric(await metricsText(), name, labels),
    stop: async () => {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      await exited;
    },
    kill9: async () => {
      if (proc.exitCode === null) proc.kill("SIGKILL");
      await exited;
    },
  };
}

/** Sum of a metric's samples whose labels include `labels` (Prometheus text format). */
export function sumMetric(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

type Inv = Omit<HostInventory["data"], "hostId">;

/**
 * A scripted hostd: registers, heartbeats, reports an inventory it is told, and (when asked
 * to) answers ReclaimRequested by removing what was named from that inventory.
 */
export class FakeHost {
  inv: Inv = { vms: [], taps: [], disks: [], nftRules: [], runDirs: [] };
  /** `remove`: reclaim works; `keep`: hostd answers but the resource stays; `silent`: no answer. */
  reclaimMode: "remove" | "keep" | "silent" = "remove";
  /** How far this host's clock is off (ms): stamped on its registration and its telemetry, as a skewed hostd would. */
  clockSkewMs = 0;
  readonly reclaims: EventOf<"ReclaimRequested">["data"][] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopFollow: (() => Promise<void>) | undefined;

  constructor(
    private readonly nats: Nats,
    private readonly store: EventStore,
    readonly hostId: string,
  ) {}

  async register(): Promise<void> {
    await this.store.append(
      {
        type: "HostRegistered",
        data: {
          hostId: this.hostId,
          arch: "amd64",
          capacity: { vcpus: 4, memMiB: 4096, diskGiB: 50 },
          labels: [],
          vmm: "qemu",
          accel: "tcg",
          emulated: false,
          images: ["minimal"],
          publicKey: "AAAA",
          version: "test",
        },
      },
      { correlationId: `boot-${this.hostId}`, occurredAt: this.now() },
    );
  }

  private now(): string {
    return new Date(Date.now() + this.clockSkewMs).toISOString();
  }

  private async publish(subject: string, message: Message): Promise<void> {
    if (this.clockSkewMs === 0) return void (await publishMessage(this.nats, subject, message, `boot-${this.hostId}`));
    await this.nats.js.publish(subject, encode(message, { id: newEventId(), occurredAt: this.now(), correlationId: `boot-${this.hostId}`, causationId: null }));
  }

  /** Heartbeat and inventory every `everyMs`, like hostd with tiny intervals. */
  async startReporting(everyMs = 500): Promise<void> {
    await this.report();
    this.timer = setInterval(() => void this.report().catch(() => undefined), everyMs);
    if (!this.stopFollow) {
      this.stopFollow = await this.store.follow(subjects.host(this.hostId), (e) => this.onHostEvent(e));
    }
  }

  stopReporting(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  async report(): Promise<void> {
    const data = {
      type: "HostHeartbeat" as const,
      data: {
        hostId: this.hostId,
        runningVms: this.inv.vms.length,
        used: { vcpus: 0, memMiB: 0, diskGiB: 0 },
        capacity: { vcpus: 4, memMiB: 4096, diskGiB: 50 },
        accel: "tcg" as const,
        draining: false,
        uptimeSec: 1,
      },
    };
    await this.publish(subjects.heartbeat(this.hostId), data);
    await this.publish(subjects.inventory(this.hostId), { type: "HostInventory", data: { hostId: this.hostId, ...this.inv } });
  }

  async close(): Promise<void> {
    this.stopReporting();
    await this.stopFollow?.();
  }

  private async onHostEvent(e: Stored<DomainEvent>): Promise<void> {
    if (e.type !== "ReclaimRequested") return;
    this.reclaims.push(e.data);
    if (this.reclaimMode === "silent") return;
    if (this.reclaimMode === "remove") {
      for (const r of e.data.resources) {
        if (r.kind === "vm") this.inv.vms = this.inv.vms.filter((v) => v.vmId !== r.name);
        if (r.kind === "tap") this.inv.taps = this.inv.taps.filter((x) => x !== r.name);
        if (r.kind === "disk") this.inv.disks = this.inv.disks.filter((x) => x !== r.name);
        if (r.kind === "nft") this.inv.nftRules = this.inv.nftRules.filter((x) => x !== r.name);
        if (r.kind === "rundir") this.inv.runDirs = this.inv.runDirs.filter((x) => x !== r.name);
      }
    }
    await this.store.append(
      { type: "ResourceReclaimed", data: { hostId: this.hostId, reclaimId: e.data.reclaimId, reclaimed: e.data.resources, failed: [] } },
      { msgId: `reclaimed:${this.hostId}:${e.data.reclaimId}`, correlationId: e.correlationId, causationId: e.id },
    );
  }
}

/** Everything hostd reports for a VM under state dir `/s`. */
export const vmResources = (vmId: string): Inv => ({
  vms: [{ vmId, pid: 4242 }],
  taps: [`os-${vmId}`],
  disks: [`/s/hostd/vms/${vmId}/root.qcow2`],
  nftRules: [`oneshot:${vmId}`],
  runDirs: [`/s/hostd/vms/${vmId}`],
});

export const addTo = (inv: Inv, more: Inv): void => {
  inv.vms.push(...more.vms);
  inv.taps.push(...more.taps);
  inv.disks.push(...more.disks);
  inv.nftRules.push(...more.nftRules);
  inv.runDirs.push(...more.runDirs);
};

/** A local job (bound to its VM: JobScheduled carries its script) placed on `hostId` and booted there, as the log tells it. */
export async function runningJob(store: EventStore, jobId: string, vmId: string, hostId: string, attempt = 0): Promise<void> {
  const spec = { arch: "amd64" as const, vcpus: 1, memMiB: 256, diskGiB: 1, image: "minimal", timeoutSec: 600 };
  const c = { correlationId: `req-${jobId}` };
  await store.append(
    { type: "JobQueued", data: { jobId, source: { provider: "local", repo: "local", org: "local", providerJobId: jobId, labels: [] }, spec, script: "true" } },
    c,
  );
  await store.append({ type: "JobScheduled", data: { jobId, hostId, vmId, spec, attempt, script: "true" } }, c);
  await store.append({ type: "VmBootRequested", data: { jobId, hostId, vmId, tap: `os-${vmId}`, disks: [] } }, c);
  await store.append(
    {
      type: "VmBooted",
      data: {
        jobId,
        hostId,
        vmId,
        vmm: "qemu",
        accel: "tcg",
        pid: 4242,
        timings: { diskMs: 1, configMs: 1, netMs: 1, vmmStartMs: 1, agentReadyMs: 1, totalMs: 5 },
      },
    },
    c,
  );
}

/** Job events the janitor must never append: those decisions belong to the scheduler and ingest. */
export const JOB_DECISIONS = ["JobRequeued", "JobFailed", "JobCompleted", "JobCancelled", "JobRebound", "JobStarted"] as const;

export async function eventsOn(store: EventStore, subject: string): Promise<Stored<DomainEvent>[]> {
  return (await store.readAggregate(subject)).events;
}
