import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
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
 * `<logDir>/<name>.log`, and stops them in reverse order. If one dies unexpectedly,
 * `onCrash` is told which, with the tail of its log.
 */
export class Supervisor {
  private readonly running: Running[] = [];
  private stopping = false;

  constructor(private readonly logDir: string, private readonly onCrash: (name: string, code: number | null, tail: string) => void) {}

  async start(spec: ChildSpec, timeoutMs = 60_000): Promise<void> {
    const logFile = join(this.logDir, `${spec.name}.log`);
    const out = createWriteStream(logFile, { flags: "a" });
    const proc = spawn(spec.command, spec.args, { env: { ...process.env, ...spec.env }, stdio: ["ignore", "pipe", "pipe"] });
    proc.stdout?.pipe(out);
    proc.stderr?.pipe(out);
    const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
    const r: Running = { spec, proc, logFile, exited };
    this.running.push(r);
    void exited.then((code) => {
      if (!this.stopping) this.onCrash(spec.name, code, tail(logFile));
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`${spec.name} exited (${proc.exitCode}) while starting:\n${tail(logFile)}`);
      if (await spec.ready().catch(() => false)) return;
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error(`${spec.name} was not ready after ${timeoutMs / 1000}s; see ${logFile}:\n${tail(logFile)}`);
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
