import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Which way this machine can run a real NATS server, or why it cannot. */
export type NatsAvailability = { kind: "binary"; path: string } | { kind: "docker" } | { kind: "none"; reason: string };

let cached: NatsAvailability | undefined;
export function natsAvailability(): NatsAvailability {
  if (cached) return cached;
  const which = spawnSync("sh", ["-c", "command -v nats-server"], { encoding: "utf8" });
  if (which.status === 0 && which.stdout.trim()) return (cached = { kind: "binary", path: which.stdout.trim() });
  const docker = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], { encoding: "utf8", timeout: 5_000 });
  if (docker.status === 0 && docker.stdout.trim()) return (cached = { kind: "docker" });
  return (cached = { kind: "none", reason: "no nats-server binary (apt-get install nats-server) and no Docker engine for testcontainers" });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TestNats {
  url: string;
  port: number;
  storeDir: string;
  /** The running server's pid (its CPU, for benches); undefined while it is down or in a container. */
  readonly pid: number | undefined;
  /** Graceful stop (SIGTERM). */
  stop(): Promise<void>;
  /** SIGKILL: no flush, like a crashed server. */
  kill9(): Promise<void>;
  /** Starts again on the same port and store. */
  restart(): Promise<void>;
  /** Stops and removes the store. */
  dispose(): Promise<void>;
}

export interface StartNatsOptions {
  /** Extra nats-server arguments. */
  args?: string[];
  /** A config file that sets listen address, port and JetStream store itself (then `port` must match it). */
  config?: string;
  port?: number;
}

/** Starts a real `nats-server -js` on a free loopback port with a temporary store. */
export async function startNats(opts: StartNatsOptions = {}): Promise<TestNats> {
  const avail = natsAvailability();
  if (avail.kind === "none") throw new Error(avail.reason);
  if (avail.kind === "docker") return startNatsContainer();
  const port = opts.port ?? (await freePort());
  const storeDir = mkdtempSync(join(tmpdir(), "oneshot-nats-"));
  let proc: ChildProcess | undefined;
  const launch = async () => {
    const base = opts.config ? ["-c", opts.config] : ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir];
    proc = spawn(avail.path, [...base, ...(opts.args ?? [])], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    // A crashed test or bench must not leave a server behind.
    const child = proc;
    process.once("exit", () => child.kill("SIGKILL"));
    let stderr = "";
    proc.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    await waitForPort(port, 10_000, () => (proc?.exitCode !== null ? `nats-server exited: ${stderr}` : undefined));
  };
  const halt = async (signal: NodeJS.Signals) => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return; // already gone (a SIGKILL leaves exitCode null)
    await new Promise<void>((resolve) => {
      p.once("exit", () => resolve());
      p.kill(signal);
    });
  };
  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    get pid() {
      return proc && proc.exitCode === null && proc.signalCode === null ? proc.pid : undefined;
    },
    stop: () => halt("SIGTERM"),
    kill9: () => halt("SIGKILL"),
    restart: async () => {
      await halt("SIGTERM");
      await launch();
    },
    dispose: async () => {
      await halt("SIGTERM");
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

async function startNatsContainer(): Promise<TestNats> {
  const { NatsContainer } = await import("@testcontainers/nats");
  const container = await new NatsContainer("nats:2.10").withJetStream().start();
  const port = container.getMappedPort(4222);
  return {
    url: `nats://${container.getHost()}:${port}`,
    port,
    storeDir: "(container)",
    pid: undefined,
    stop: async () => void (await container.stop()),
    kill9: async () => void (await container.stop({ timeout: 0 })),
    restart: async () => {
      await container.restart();
    },
    dispose: async () => void (await container.stop()),
  };
}

async function waitForPort(port: number, timeoutMs: number, failed: () => string | undefined): Promise<void> {
  const { connect } = await import("node:net");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const why = failed();
    if (why) throw new Error(why);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nats-server did not listen on ${port} within ${timeoutMs}ms`);
}

export interface TestNatsCluster {
  /** Every node's client URL, comma-separated: what services get as NATS_URL. */
  url: string;
  /** Node i is `server_name` `n<i+1>` (what stream info names as leader). */
  nodes: (TestNats & { name: string })[];
  dispose(): Promise<void>;
}

/**
 * A real JetStream cluster of `size` nats-server processes on loopback (routes between them,
 * one store each), no auth: for failover tests. Each node can be killed and restarted on its
 * own. `oneshot up --nats-cluster 3` runs the production shape (TLS, NKeys) the same way.
 */
export async function startNatsCluster(size = 3): Promise<TestNatsCluster> {
  if (size === 1) {
    const one = await startNats();
    return { url: one.url, nodes: [Object.assign(one, { name: "n1" })], dispose: () => one.dispose() };
  }
  const avail = natsAvailability();
  if (avail.kind !== "binary") throw new Error(avail.kind === "none" ? avail.reason : "a cluster needs the nats-server binary");
  const ports = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const dir = mkdtempSync(join(tmpdir(), "oneshot-natsc-"));
  const nodes: (TestNats & { name: string })[] = [];
  for (let i = 0; i < size; i++) {
    const conf = join(dir, `n${i + 1}.conf`);
    writeFileSync(
      conf,
      [
        `server_name: "n${i + 1}"`,
        `listen: "127.0.0.1:${ports[i]}"`,
        `jetstream: { store_dir: ${JSON.stringify(join(dir, `n${i + 1}`))} }`,
        `cluster: { name: "oneshot-test", listen: "127.0.0.1:${routePorts[i]}", routes: [${routePorts.map((p) => `"nats-route://127.0.0.1:${p}"`).join(", ")}] }`,
        ``,
      ].join("\n"),
    );
    nodes.push(Object.assign(await startNats({ port: ports[i]!, config: conf }), { name: `n${i + 1}` }));
  }
  await waitForJetStream(ports, size, 60_000);
  return {
    url: ports.map((p) => `nats://127.0.0.1:${p}`).join(","),
    nodes,
    dispose: async () => {
      for (const n of nodes) await n.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Until the cluster can place a stream on `size` peers (a probe stream is made, then removed). */
async function waitForJetStream(ports: number[], size: number, timeoutMs: number): Promise<void> {
  const { connect } = await import("@nats-io/transport-node");
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const nc = await connect({ servers: `127.0.0.1:${ports[0]}`, maxReconnectAttempts: 0 });
      try {
        const probe = JSON.stringify({ name: "PROBE", subjects: ["probe.cluster"], num_replicas: size, storage: "memory" });
        const r = await nc.request("$JS.API.STREAM.CREATE.PROBE", new TextEncoder().encode(probe), { timeout: 3_000 });
        const info = JSON.parse(new TextDecoder().decode(r.data)) as { error?: { description: string } };
        if (!info.error) {
          await nc.request("$JS.API.STREAM.DELETE.PROBE", undefined, { timeout: 3_000 });
          return;
        }
        last = info.error.description;
      } finally {
        await nc.close();
      }
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`the NATS cluster has no JetStream leader after ${timeoutMs} ms: ${last}`);
}
