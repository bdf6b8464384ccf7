import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";

/** Every child the chaos kit started and that is still alive (a test's afterAll kills them all). */
export const liveChildren = new Set<ChildProcess>();

/** SIGKILLs every process the kit started (after a timed-out test, nothing may keep running). */
export function killEverything(): void {
  for (const p of liveChildren) p.kill("SIGKILL");
  liveChildren.clear();
}

/**
 * One service as production runs it (`node services/<x>/dist/main.js` with its environment),
 * which the chaos suite kills, freezes and starts again. The last 64 KiB of its output is kept
 * for a failure's message.
 */
export class ServiceProcess {
  private proc: ChildProcess | undefined;
  private out = "";
  private exited: Promise<void> = Promise.resolve();
  /** Lines written to stdout, for processes that report in JSON lines (the sim fleet). */
  readonly lines: string[] = [];
  /** Exits nobody asked for (a supervisor restarted each after 500 ms), with the output's tail. */
  readonly crashes: { at: number; code: number | null; signal: string | null; tail: string }[] = [];
  private expectExit = false;
  private supervised = true;

  constructor(
    readonly name: string,
    private readonly script: string,
    private readonly args: string[],
    private readonly env: Record<string, string>,
    readonly httpPort?: number,
  ) {}

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get running(): boolean {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  output(): string {
    return this.out;
  }

  start(): void {
    if (this.running) return;
    const p = spawn(process.execPath, [this.script, ...this.args], { env: { ...process.env, ...this.env }, stdio: ["ignore", "pipe", "pipe"] });
    this.proc = p;
    liveChildren.add(p);
    const kill = () => p.kill("SIGKILL");
    process.once("exit", kill);
    this.expectExit = false;
    this.exited = new Promise((r) =>
      p.once("exit", (code, signal) => {
        process.off("exit", kill);
        liveChildren.delete(p);
        r();
        // As compose's `restart: unless-stopped` or `oneshot up`'s supervisor would.
        if (this.expectExit || !this.supervised) return;
        this.crashes.push({ at: performance.now(), code, signal, tail: this.out.slice(-1500) });
        setTimeout(() => this.supervised && !this.running && this.start(), 500);
      }),
    );
    let partial = "";
    p.stdout!.on("data", (d: Buffer) => {
      const s = d.toString();
      this.out = (this.out + s).slice(-65_536);
      const parts = (partial + s).split("\n");
      partial = parts.pop() ?? "";
      for (const l of parts) if (l.startsWith('{"fleet"')) this.lines.push(l);
    });
    p.stderr!.on("data", (d: Buffer) => (this.out = (this.out + d.toString()).slice(-65_536)));
  }

  async healthy(): Promise<boolean> {
    if (!this.running) return false;
    if (!this.httpPort) return true;
    return fetch(`http://127.0.0.1:${this.httpPort}/healthz`, { signal: AbortSignal.timeout(1_000) }).then(
      (r) => r.ok,
      () => false,
    );
  }

  async signal(sig: NodeJS.Signals): Promise<void> {
    if (!this.running) return;
    const wait = sig === "SIGKILL" || sig === "SIGTERM" || sig === "SIGINT";
    if (wait) this.expectExit = true;
    this.proc!.kill(sig);
    if (wait) await this.exited;
  }

  kill9 = () => this.signal("SIGKILL");
  freeze = () => this.signal("SIGSTOP");
  thaw = () => this.signal("SIGCONT");

  /** SIGTERM, then SIGKILL after `ms`. */
  async stop(ms = 10_000): Promise<void> {
    this.supervised = false;
    if (!this.running) return;
    const t = setTimeout(() => this.proc?.kill("SIGKILL"), ms);
    this.proc!.kill("SIGCONT");
    await this.signal("SIGTERM");
    clearTimeout(t);
  }

  cpuSeconds(): number {
    return this.pid ? cpuSecondsOf(this.pid) : 0;
  }
}

/** A process's user + system CPU seconds so far, from /proc/<pid>/stat (fields 14 and 15, clock ticks); 0 when gone. */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

/** Polls `pred` every `everyMs` until true; returns the time it took, or throws after `timeoutMs`. */
export async function until(what: string, pred: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await pred()) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
