import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { Logger } from "@oneshot/runtime";

export interface RegistryProcessOpts {
  /** The mirror's name (`docker.io`, `port-5001`): logs only. */
  name: string;
  bin: string;
  uid: number;
  gid: number;
  configPath: string;
  /** The child's environment (REGISTRY_HTTP_SECRET: never on a command line). */
  env: Record<string, string>;
  log: Logger;
  /** Every line the registry prints (its access log and its own log, stdout and stderr). */
  onLine: (line: string) => void;
  /** Answers once the registry serves: `GET <url>` → 200. */
  readyUrl: string;
  /** Restart delays: doubled from `firstMs` up to `maxMs`, back to `firstMs` after a minute up. */
  backoff?: { firstMs: number; maxMs: number };
}

/**
 * One registry process, kept running: started unprivileged (`setpriv`: its own uid and gid, no
 * supplementary groups, no new privileges) and with a parent-death signal, so a hostd that dies
 * (SIGKILL, crash) never leaves a registry holding the gateway's port. It exits on its own when
 * the upstream cannot be reached at start (distribution 2.8 panics: it asks the upstream for its
 * auth challenge first); it is then started again after a growing delay. Meanwhile the port
 * refuses connections, and dockerd falls back to pulling directly.
 */
export class RegistryProcess {
  private child: ChildProcess | undefined;
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  private delayMs: number;
  private startedAt = 0;
  private tail: string[] = [];
  /** Answered its ready URL since it last started. */
  up = false;
  restarts = 0;

  constructor(private readonly o: RegistryProcessOpts) {
    this.delayMs = o.backoff?.firstMs ?? 1000;
  }

  start(): void {
    if (this.stopping || this.child) return;
    const { o } = this;
    const argv = [`--reuid=${o.uid}`, `--regid=${o.gid}`, "--clear-groups", "--no-new-privs", "--pdeathsig", "KILL", "--", o.bin, "serve", o.configPath];
    const child = spawn("setpriv", argv, { env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", ...o.env }, stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    this.startedAt = Date.now();
    this.up = false;
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (line) => {
        this.tail = [...this.tail.slice(-9), line];
        o.onLine(line);
      });
    }
    child.once("error", (err) => o.log.error({ err, mirror: o.name }, "cannot start the registry"));
    child.once("exit", (code, signal) => {
      this.child = undefined;
      this.up = false;
      if (this.stopping) return;
      if (Date.now() - this.startedAt > 60_000) this.delayMs = o.backoff?.firstMs ?? 1000;
      o.log.warn({ mirror: o.name, code, signal, retryInMs: this.delayMs, last: this.tail.slice(-3) }, "registry mirror exited: starting it again");
      this.restarts++;
      this.timer = setTimeout(() => this.start(), this.delayMs);
      this.delayMs = Math.min(this.delayMs * 2, o.backoff?.maxMs ?? 60_000);
    });
    void this.waitReady(child);
  }

  private async waitReady(child: ChildProcess): Promise<void> {
    while (this.child === child && !this.up) {
      const ok = await fetch(this.o.readyUrl, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok && this.child === child) {
        this.up = true;
        this.o.log.info({ mirror: this.o.name, url: this.o.readyUrl, startMs: Date.now() - this.startedAt }, "registry mirror serving");
        return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; no restart after it. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGTERM");
    const kill = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(kill);
  }
}
