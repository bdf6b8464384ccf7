import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "@oneshot/testing";
import type { EventJson } from "../view/event-line.js";

const root = join(import.meta.dirname, "..", "..", "..", "..");
const cliMain = join(root, "packages", "cli", "dist", "main.js");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** A whole stack started the way a user does it: `oneshot up`, as a child process. */
export interface UpStack {
  state: string;
  env: NodeJS.ProcessEnv;
  cli(args: string[], extraEnv?: Record<string, string>): Promise<CliResult>;
  events(filter?: string[]): Promise<EventJson[]>;
  pid(service: string): number | undefined;
  stop(): Promise<void>;
  logs(service: string): string;
  /** What `oneshot up` printed so far (its "oneshot is up" block, progress lines). */
  output(): string;
}

export async function startUp(opts: { env?: Record<string, string>; args?: string[] } = {}): Promise<UpStack> {
  if (!existsSync(cliMain)) throw new Error(`${cliMain} missing: run \`npm run build\` first`);
  const state = mkdtempSync(join(tmpdir(), "oneshot-e2e-"));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ONESHOT_STATE_DIR: state,
    ONESHOT_UP_BRIDGE_PREFIX: "ose2e",
    ONESHOT_UP_SUBNET_BASE: "40",
    LOG_LEVEL: "debug",
    ...opts.env,
  };
  const port = await freePort();
  const natsPort = await freePort();
  const up: ChildProcess = spawn(process.execPath, [cliMain, "up", "--port", String(port), "--nats-port", String(natsPort), ...(opts.args ?? [])], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let upOut = "";
  up.stdout?.on("data", (d: Buffer) => (upOut += d.toString()));
  up.stderr?.on("data", (d: Buffer) => (upOut += d.toString()));
  const exited = new Promise<void>((r) => up.once("exit", () => r()));
  await waitFor(
    "`oneshot up` to be ready",
    () => {
      if (up.exitCode !== null) throw new Error(`oneshot up exited ${up.exitCode}:\n${upOut}`);
      return existsSync(join(state, "up.json"));
    },
    600_000,
    250,
  ).catch((e: Error) => {
    up.kill("SIGKILL");
    throw new Error(`${e.message}\n${upOut}`);
  });
  const cli = (args: string[], extraEnv: Record<string, string> = {}) =>
    new Promise<CliResult>((resolve) => {
      const t = performance.now();
      const p = spawn(process.execPath, [cliMain, ...args], { env: { ...env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      p.once("exit", (code) => resolve({ code, stdout, stderr, ms: performance.now() - t }));
    });
  return {
    state,
    env,
    cli,
    events: async (filter = []) => {
      const r = await cli(["events", "--json", ...filter]);
      if (r.code !== 0) throw new Error(`oneshot events failed: ${r.stderr}`);
      return r.stdout
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as EventJson);
    },
    pid: (service) => {
      const f = join(state, "run", `${service}.pid`);
      return existsSync(f) ? Number(readFileSync(f, "utf8")) : undefined;
    },
    output: () => upOut,
    logs: (service) => {
      const f = join(state, "logs", `${service}.log`);
      return existsSync(f) ? readFileSync(f, "utf8") : "";
    },
    stop: async () => {
      up.kill("SIGINT");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 120_000))]);
      if (up.exitCode === null) up.kill("SIGKILL");
      rmSync(state, { recursive: true, force: true });
    },
  };
}

/** What is left on the machine of a VM: processes, taps, files. Empty when it was destroyed. */
export function leftovers(vmId: string, state: string): string[] {
  const found: string[] = [];
  const procs = spawnSync("pgrep", ["-af", `oneshot-${vmId}`], { encoding: "utf8" }).stdout.trim();
  if (procs) found.push(...procs.split("\n").map((l) => `process: ${l}`));
  const taps = spawnSync("ip", ["-o", "link", "show"], { encoding: "utf8" }).stdout;
  if (taps.includes(`os-${vmId}`)) found.push(`tap: os-${vmId}`);
  const files = spawnSync("find", [state, "-name", `*${vmId}*`], { encoding: "utf8" }).stdout.trim();
  if (files) found.push(...files.split("\n").map((f) => `file: ${f}`));
  const nft = spawnSync("nft", ["list", "ruleset"], { encoding: "utf8" }).stdout;
  if (nft.includes(`oneshot:${vmId}`)) found.push(`nft rule: oneshot:${vmId}`);
  return found;
}

/** The largest number of VMs alive at once, from the events (VmBootRequested … VmDestroyed). */
export function maxConcurrentVms(events: EventJson[], hostId?: string): number {
  let live = 0;
  let max = 0;
  for (const e of events) {
    const d = e.data as { hostId?: string };
    if (hostId && d.hostId !== hostId) continue;
    if (e.type === "VmBootRequested") max = Math.max(max, ++live);
    if (e.type === "VmDestroyed") live--;
  }
  return max;
}
