// Runs the built scheduler (dist/main.js) as a real process, for integration tests and benches.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const packageDir = fileURLToPath(new URL("../..", import.meta.url));
const repoRoot = fileURLToPath(new URL("../../../..", import.meta.url));

/**
 * `tsc -b services/scheduler`: incremental, so a no-op when dist is current. Test files run in
 * parallel workers, so builds take turns (a lock directory; a stale one is broken after 5 min).
 * Throws with tsc's output.
 */
export async function buildScheduler(): Promise<void> {
  const lock = join(tmpdir(), "oneshot-scheduler-build.lock");
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 300_000) rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    const r = spawnSync("npx", ["tsc", "-b", "services/scheduler"], { cwd: repoRoot, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`building the scheduler failed:\n${r.stdout}${r.stderr}`);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface SchedulerProcess {
  name: string;
  port: number;
  proc: ChildProcess;
  /** The last lines it wrote (stdout and stderr). */
  output: () => string;
  exited: Promise<number | null>;
  kill9: () => Promise<void>;
  stop: () => Promise<void>;
  metric: (name: string) => Promise<number>;
}

export function startSchedulerProcess(name: string, natsUrl: string, port: number, env: Record<string, string> = {}): SchedulerProcess {
  const proc = spawn(process.execPath, [`${packageDir}/dist/main.js`], {
    env: { ...process.env, NATS_URL: natsUrl, SCHEDULER_HTTP_PORT: String(port), LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const killOnExit = () => proc.kill("SIGKILL");
  process.once("exit", killOnExit);
  let out = "";
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-20_000));
  proc.stdout!.on("data", keep);
  proc.stderr!.on("data", keep);
  const exited = new Promise<number | null>((resolve) =>
    proc.once("exit", (code) => {
      process.off("exit", killOnExit);
      resolve(code);
    }),
  );
  const signal = async (s: NodeJS.Signals) => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(s);
    await exited;
  };
  return {
    name,
    port,
    proc,
    exited,
    output: () => out,
    kill9: () => signal("SIGKILL"),
    stop: () => signal("SIGTERM"),
    metric: async (metric) => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const line = text.split("\n").find((l) => l.startsWith(`${metric} `) || l.startsWith(`${metric}{`));
      return line ? Number(line.split(" ").pop()) : 0;
    },
  };
}

/** Resolves when its /healthz answers 200 (it has replayed the log and follows it). */
export async function healthy(p: SchedulerProcess): Promise<boolean> {
  if (p.proc.exitCode !== null) throw new Error(`${p.name} exited ${p.proc.exitCode}:\n${p.output()}`);
  return fetch(`http://127.0.0.1:${p.port}/healthz`).then(
    (r) => r.ok,
    () => false,
  );
}
