import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as connectTcp } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, natsAvailability } from "../nats-server.js";
import { liveChildren } from "./procs.js";

/** One nats-server of the chaos suite's cluster: killed with -9 and started again on its own store. */
export interface ChaosNatsNode {
  /** `server_name` (what stream info calls the leader). */
  name: string;
  port: number;
  /** The running server's pid (its CPU, for benches), undefined while it is down. */
  readonly pid: number | undefined;
  kill9(): Promise<void>;
  /** Starts it again (same port, same store) and waits until it listens. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface ChaosNats {
  url: string;
  nodes: ChaosNatsNode[];
  dispose(): Promise<void>;
}

/**
 * `size` nats-server processes with JetStream (routes between them when size > 1), no auth, on
 * loopback. The suite's own, because it must restart a node it killed with -9: a process
 * ended by a signal has `exitCode === null`, and the kit's `TestNats.restart()` then waits
 * for an exit that already happened.
 */
export async function startChaosNats(size: number): Promise<ChaosNats> {
  const avail = natsAvailability();
  if (avail.kind !== "binary") throw new Error(avail.kind === "none" ? avail.reason : "the chaos suite needs the nats-server binary");
  const ports = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routes = await Promise.all(Array.from({ length: size }, () => freePort()));
  const dir = mkdtempSync(join(tmpdir(), "oneshot-chaos-nats-"));
  const launchers: (() => Promise<void>)[] = [];
  const nodes = ports.map((port, i): ChaosNatsNode => {
    const name = `n${i + 1}`;
    const conf = join(dir, `${name}.conf`);
    writeFileSync(conf, [
      `server_name: "${name}"`, `listen: "127.0.0.1:${port}"`, `jetstream: { store_dir: ${JSON.stringify(join(dir, name))} }`,
      ...(size > 1 ? [`cluster: { name: "oneshot-chaos", listen: "127.0.0.1:${routes[i]}", routes: [${routes.map((p) => `"nats-route://127.0.0.1:${p}"`).join(", ")}] }`] : []), "",
    ].join("\n"));
    let proc: ChildProcess | undefined;
    let exited: Promise<void> = Promise.resolve();
    const alive = () => !!proc && proc.exitCode === null && proc.signalCode === null;
    const launch = async () => {
      const p = spawn(avail.path, ["-c", conf], { stdio: ["ignore", "ignore", "ignore"] });
      proc = p;
      liveChildren.add(p);
      const kill = () => p.kill("SIGKILL");
      process.once("exit", kill);
      exited = new Promise((r) => p.once("exit", () => (process.off("exit", kill), liveChildren.delete(p), r())));
      await listening(port, 15_000, () => !alive());
    };
    const halt = async (sig: NodeJS.Signals) => {
      if (!alive()) return;
      proc!.kill(sig);
      await exited;
    };
    launchers.push(launch);
    return {
      name, port, get pid() { return alive() ? proc!.pid : undefined; },
      kill9: () => halt("SIGKILL"), restart: async () => (await halt("SIGTERM"), await launch()), stop: () => halt("SIGTERM"),
    };
  });
  for (const launch of launchers) await launch();
  await jetStreamReady(ports[0]!, 30_000);
  return {
    url: ports.map((p) => `nats://127.0.0.1:${p}`).join(","),
    nodes,
    dispose: async () => {
      for (const n of nodes) await n.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function listening(port: number, timeoutMs: number, died: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (died()) throw new Error(`nats-server on ${port} exited at start`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connectTcp(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nats-server did not listen on ${port} within ${timeoutMs} ms`);
}

/** Until JetStream answers `$JS.API.INFO` without an error (a cluster has elected its meta leader). */
async function jetStreamReady(port: number, timeoutMs: number): Promise<void> {
  const { connect } = await import("@nats-io/transport-node");
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const nc = await connect({ servers: `127.0.0.1:${port}`, maxReconnectAttempts: 0 });
      try {
        const r = await nc.request("$JS.API.INFO", undefined, { timeout: 2_000 });
        const info = JSON.parse(new TextDecoder().decode(r.data)) as { error?: { description: string } };
        if (!info.error) return;
        last = info.error.description;
      } finally {
        await nc.close();
      }
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`JetStream not ready after ${timeoutMs} ms: ${last}`);
}
