import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
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
    if (!p || p.exitCode !== null) return;
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
  let container = await new NatsContainer("nats:2.10").withJetStream().start();
  const port = container.getMappedPort(4222);
  return {
    url: `nats://${container.getHost()}:${port}`,
    port,
    storeDir: "(container)",
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
