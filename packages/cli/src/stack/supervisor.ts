import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface ChildSpec {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  /** Resolves once the child serves (health endpoint, port...). */
  ready: () => Promise<boolean>;
  /** How long a graceful stop may take before SIGKILL (hostd destroys its VMs first). */
  stopGraceMs: number;
}

interface Running {
  spec: ChildSpec;
  proc: ChildProcess;
  logFile: string;
  exited: Promise<number | null>;
}

/**
 * Starts each service as its own child process (as in production), logs each to
 * `<logDir>/<name>.log`, writes `<runDir>/<name>.pid`, and stops them in reverse order.
 * A child that dies is restarted like compose's `restart: unless-stopped` (at most
 * `maxRestarts` times in a minute); after that `onCrash` is told, with the tail of its log.
 */
export class Supervisor {
  private readonly running: Running[] = [];
  private stopping = false;
  private readonly restarts = new Map<string, number[]>();

  constructor(
    private readonly logDir: string,
    private readonly runDir: string,
    private readonly onCrash: (name: string, code: number | null, tail: string) => void,
    private readonly report: (line: string) => void = () => undefined,
    private readonly maxRestarts = 5,
  ) {
    mkdirSync(runDir, { recursive: true });
  }

  async start(spec: ChildSpec, timeoutMs = 60_000): Promise<void> {
    const r = this.launch(spec);
    const { proc, logFile } = r;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${spec.name} exited (${proc.exitCode}) while starting:\n${tail(logFile)}`);
      if (await spec.ready().catch(() => false)) return;
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error(`${spec.name} was not ready after ${timeoutMs / 1000}s; see ${logFile}:\n${tail(logFile)}`);
  }

  private launch(spec: ChildSpec): Running {
    const logFile = join(this.logDir, `${spec.name}.log`);
    const out = createWriteStream(logFile, { flags: "a" });
    // Own process group: a terminal's Ctrl-C reaches only `oneshot up`, which then stops the
    // services in order (hostd first, while NATS is still there to record VmDestroyed).
    const proc = spawn(spec.command, spec.args, { env: { ...process.env, ...spec.env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    proc.stdout?.pipe(out);
    proc.stderr?.pipe(out);
    const pidFile = join(this.runDir, `${spec.name}.pid`);
    if (proc.pid) writeFileSync(pidFile, `${proc.pid}\n`);
    const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
    const r: Running = { spec, proc, logFile, exited };
    const slot = this.running.findIndex((x) => x.spec.name === spec.name);
    if (slot >= 0) this.running[slot] = r;
    else this.running.push(r);
    void exited.then((code) => {
      rmSync(pidFile, { force: true });
      if (this.stopping) return;
      const now = Date.now();
      const recent = (this.restarts.get(spec.name) ?? []).filter((t) => now - t < 60_000);
      if (recent.length >= this.maxRestarts) return this.onCrash(spec.name, code, tail(logFile));
      this.restarts.set(spec.name, [...recent, now]);
      this.report(`${spec.name} exited (${code ?? proc.signalCode}); restarting`);
      setTimeout(() => {
        if (!this.stopping) this.launch(spec);
      }, 1_000);
    });
    return r;
  }

  /** SIGTERM in reverse start order, SIGKILL after each child's grace period. */
  async stopAll(report: (s: string) => void = () => undefined): Promise<void> {
    this.stopping = true;
    for (const r of [...this.running].reverse()) {
      if (r.proc.exitCode !== null || r.proc.signalCode !== null) continue;
      report(`stopping ${r.spec.name}`);
      r.proc.kill("SIGTERM");
      const killed = await Promise.race([r.exited.then(() => false), new Promise<boolean>((res) => setTimeout(() => res(true), r.spec.stopGraceMs))]);
      if (killed) {
        report(`${r.spec.name} did not stop within ${r.spec.stopGraceMs / 1000}s: SIGKILL`);
        r.proc.kill("SIGKILL");
        await r.exited;
      }
    }
  }
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
