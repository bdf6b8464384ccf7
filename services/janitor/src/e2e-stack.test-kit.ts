// The whole control loop on this machine for the janitor's proof: a real nats-server, the
// built scheduler, janitor and hostd processes (as production runs them), real QEMU guests,
// real taps and nft rules. Names are unique per run so nothing else on the machine is touched.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { subjects, type DomainEvent, type EventOf, type EventType, type JobSpec, type Stored } from "@oneshot/proto";
import type { EventStore, Nats } from "@oneshot/runtime";
import { connectTest, freePort, startNats, waitFor, type TestNats } from "@oneshot/testing";

export const repoRoot = resolve(import.meta.dirname, "..", "..", "..");
const dist = (svc: string) => join(repoRoot, "services", svc, "dist", "main.js");
export const imageDir = (): string => process.env.ONESHOT_IMAGE_DIR ?? join(repoRoot, "images", "out");

/** Why the proof cannot run here beyond `missing(...)`: no guest image or unbuilt services. Printed. */
export function missingStack(): string | undefined {
  const why = (() => {
    for (const f of ["vmlinuz", "initrd.img", "rootfs.ext4", "manifest.json"]) {
      if (!existsSync(join(imageDir(), "amd64", f)))
        return `no amd64 guest image at ${join(imageDir(), "amd64")} (images/build-minimal.sh amd64, or ONESHOT_IMAGE_DIR)`;
    }
    for (const s of ["scheduler", "janitor", "hostd"]) if (!existsSync(dist(s))) return `${dist(s)} missing: run \`npm run build\``;
    return undefined;
  })();
  if (why) process.stderr.write(`SKIP (stack): ${why}\n`);
  return why;
}

export interface Proc {
  name: string;
  proc: ChildProcess;
  port: number;
  logs: () => string;
}

export class Stack {
  readonly suffix = randomBytes(3).toString("hex").slice(0, 4);
  readonly state = mkdtempSync(join(tmpdir(), "oneshot-janitor-e2e-"));
  readonly events: Stored<DomainEvent>[] = [];
  readonly procs = new Map<string, Proc>();
  readonly bridges: string[] = [];
  /** HostInventory messages seen per host. */
  readonly inventories = new Map<string, number>();
  server!: TestNats;
  nats!: Nats;
  store!: EventStore;
  private closers: (() => Promise<void>)[] = [];

  async start(): Promise<void> {
    this.server = await startNats();
    const c = await connectTest(this.server.url, "janitor-e2e");
    ({ nats: this.nats, store: this.store } = c);
    this.closers.push(c.close);
    this.closers.push(await this.store.follow(subjects.allEvents, (e) => void this.events.push(e)));
    const sub = this.nats.nc.subscribe(subjects.allInventories, {
      callback: (_e, m) => {
        const hostId = m.subject.split(".")[2]!;
        this.inventories.set(hostId, (this.inventories.get(hostId) ?? 0) + 1);
      },
    });
    this.closers.push(async () => sub.unsubscribe());
  }

  /** Waits until `hostId` has published `n` more inventories. */
  async moreInventories(hostId: string, n: number): Promise<void> {
    const from = this.inventories.get(hostId) ?? 0;
    await waitFor(`${n} more inventories of ${hostId}`, () => (this.inventories.get(hostId) ?? 0) >= from + n, 120_000, 100);
  }

  /** Starts `services/<svc>/dist/main.js` and waits for its /healthz. */
  async service(name: string, svc: "scheduler" | "janitor" | "hostd", portVar: string, env: Record<string, string>): Promise<Proc> {
    const port = await freePort();
    let out = "";
    const proc = spawn(process.execPath, [dist(svc)], {
      env: { ...process.env, NATS_URL: this.server.url, ONESHOT_STATE_DIR: this.state, LOG_LEVEL: "debug", [portVar]: String(port), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    process.once("exit", () => proc.kill("SIGKILL"));
    proc.stdout!.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-400_000)));
    proc.stderr!.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-400_000)));
    const p: Proc = { name, proc, port, logs: () => out };
    this.procs.set(name, p);
    await waitFor(
      `${name} /healthz`,
      async () => {
        if (proc.exitCode !== null) throw new Error(`${name} exited ${proc.exitCode}:\n${out.slice(-4000)}`);
        return (await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined))?.ok;
      },
      240_000,
      200,
    );
    return p;
  }

  /** A hostd with its own host id, bridge and /24, sharing this stack's state dir. */
  async hostd(label: string, env: Record<string, string> = {}): Promise<{ hostId: string; proc: Proc }> {
    const hostId = `e2e-jan-${this.suffix}-${label}`;
    const bridge = `osjn${this.suffix}${label}`.slice(0, 15);
    if (!this.bridges.includes(bridge)) this.bridges.push(bridge);
    const subnet = `10.${200 + (parseInt(this.suffix, 16) % 50)}.${(parseInt(this.suffix, 16) + label.charCodeAt(0)) % 256}.0/24`;
    const proc = await this.service(`hostd-${label}`, "hostd", "HOSTD_HTTP_PORT", {
      HOSTD_HOST_ID: hostId,
      HOSTD_BRIDGE: bridge,
      HOSTD_SUBNET: subnet,
      HOSTD_IMAGE_DIR: imageDir(),
      HOSTD_ACCEL: "tcg",
      HOSTD_MAX_VCPUS: "2",
      HOSTD_MAX_MEM_MIB: "1024",
      HOSTD_MAX_DISK_GIB: "20",
      ...env,
    });
    return { hostId, proc };
  }

  signal(name: string, sig: NodeJS.Signals): Promise<void> {
    const p = this.procs.get(name)!.proc;
    if (sig === "SIGKILL" || sig === "SIGTERM") {
      if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
      const exited = new Promise<void>((r) => p.once("exit", () => r()));
      p.kill(sig);
      return exited;
    }
    p.kill(sig);
    return Promise.resolve();
  }

  /** A local job, as `oneshot run` submits it (the scheduler places it). */
  async queue(script: string, spec: Partial<JobSpec> = {}): Promise<string> {
    const jobId = `loc-${randomBytes(8).toString("hex")}`;
    await this.store.append(
      {
        type: "JobQueued",
        data: {
          jobId,
          source: { provider: "local", repo: "local", org: "local", providerJobId: jobId, labels: [] },
          script,
          spec: { arch: "amd64", vcpus: 1, memMiB: 256, diskGiB: 1, image: "minimal", timeoutSec: 600, ...spec },
        },
      },
      { correlationId: `e2e-${jobId}`, msgId: `q:${jobId}` },
    );
    return jobId;
  }

  /** The first event of `type` matching `pred`, among those stored after sequence `afterSeq`. */
  find<T extends EventType>(type: T, pred: (d: EventOf<T>["data"]) => boolean = () => true, afterSeq = 0): Stored<EventOf<T>> | undefined {
    return this.events.find((e) => e.seq > afterSeq && e.type === type && pred(e.data as EventOf<T>["data"])) as Stored<EventOf<T>> | undefined;
  }

  async waitEvent<T extends EventType>(
    type: T,
    pred: (d: EventOf<T>["data"]) => boolean = () => true,
    timeoutMs = 240_000,
    afterSeq = 0,
  ): Promise<Stored<EventOf<T>>> {
    return waitFor<Stored<EventOf<T>> | undefined>(type, () => this.find(type, pred, afterSeq), timeoutMs, 100);
  }

  /** Sequence of the last event seen so far. */
  lastSeq(): number {
    return this.events.at(-1)?.seq ?? 0;
  }

  /** Whatever of a VM is still on the machine: VMM process, tap, nft rule, files. */
  leftovers(vmId: string): string[] {
    const found: string[] = [];
    // The VMM's `-name oneshot-<vmId>` exactly (a `notoneshot-<vmId>` is not ours).
    const procs = spawnSync("pgrep", ["-af", "--", `-name oneshot-${vmId}([ ,]|$)`], { encoding: "utf8" }).stdout.trim();
    if (procs) found.push(...procs.split("\n").map((l) => `process: ${l.slice(0, 80)}`));
    if (spawnSync("ip", ["link", "show", `os-${vmId}`], { stdio: "ignore" }).status === 0) found.push(`tap: os-${vmId}`);
    if (spawnSync("nft", ["list", "ruleset"], { encoding: "utf8" }).stdout.includes(`oneshot:${vmId}`)) found.push(`nft: oneshot:${vmId}`);
    const files = spawnSync("find", [this.state, "-name", `*${vmId}*`], { encoding: "utf8" }).stdout.trim();
    if (files) found.push(...files.split("\n").map((f) => `file: ${f}`));
    return found;
  }

  async stop(): Promise<void> {
    // hostd first (SIGTERM destroys its VMs), then the control plane, then NATS.
    for (const [name] of [...this.procs].filter(([n]) => n.startsWith("hostd"))) {
      void this.signal(name, "SIGCONT");
      await this.signal(name, "SIGTERM");
    }
    for (const [name] of this.procs) await this.signal(name, "SIGTERM");
    for (const c of this.closers.reverse()) await c().catch(() => undefined);
    await this.server?.dispose();
    for (const b of this.bridges) {
      const t = `oneshot_${b.replace(/[^A-Za-z0-9_]/g, "_")}`;
      for (const family of ["bridge", "inet"]) spawnSync("nft", ["delete", "table", family, t], { stdio: "ignore" });
      spawnSync("ip", ["link", "del", b], { stdio: "ignore" });
    }
    rmSync(this.state, { recursive: true, force: true });
  }
}

/** Polls until `probe` is empty, returning when that happened (ms, performance clock). */
export async function untilGone(what: string, probe: () => string[], timeoutMs: number): Promise<number> {
  let last: string[] = [];
  await waitFor(what, () => (last = probe()).length === 0, timeoutMs, 100).catch((e: Error) => {
    throw new Error(`${e.message}; still there: ${last.join("; ")}`);
  });
  return performance.now();
}
