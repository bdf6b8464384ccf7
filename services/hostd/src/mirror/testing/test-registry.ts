import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { waitFor } from "@oneshot/testing";
import { parseAccessLine, type AccessLine } from "../access-log.js";

/** Why registry tests cannot run here (printed as a SKIP line), or undefined. */
export function missingRegistryTools(): string | undefined {
  for (const [bin, pkg] of [
    ["docker-registry", "docker-registry"],
    ["skopeo", "skopeo"],
  ] as const) {
    if (spawnSync(bin, ["--version"]).status !== 0) {
      const why = `${bin} missing (apt-get install ${pkg}; scripts/setup.sh does)`;
      process.stderr.write(`SKIP (${bin}): ${why}\n`);
      return why;
    }
  }
  return undefined;
}

/**
 * A plain registry (Debian's docker-registry, not a proxy) playing an upstream such as Docker
 * Hub: optionally inside a network namespace (the tests' internet), its access log kept so a
 * test can count what was fetched from it.
 */
export class TestRegistry {
  readonly dir = mkdtempSync(join(tmpdir(), "oneshot-upstream-"));
  readonly requests: AccessLine[] = [];
  logs = "";
  private proc: ChildProcess | undefined;

  constructor(readonly o: { addr: string; port: number; ns?: string }) {}

  get url(): string {
    return `http://${this.o.addr}:${this.o.port}`;
  }

  async start(): Promise<void> {
    const config = join(this.dir, "config.yml");
    const conf = {
      version: 0.1,
      log: { level: "info" },
      storage: { filesystem: { rootdirectory: join(this.dir, "store") } },
      http: { addr: `${this.o.addr}:${this.o.port}` },
    };
    writeFileSync(config, JSON.stringify(conf));
    const argv = ["docker-registry", "serve", config];
    this.proc = this.o.ns
      ? spawn("ip", ["netns", "exec", this.o.ns, ...argv], { stdio: ["ignore", "pipe", "pipe"] })
      : spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    const proc = this.proc;
    process.once("exit", () => proc.kill("SIGKILL"));
    for (const s of [proc.stdout!, proc.stderr!])
      createInterface({ input: s }).on("line", (line) => {
        this.logs += `${line}\n`;
        const a = parseAccessLine(line);
        if (a) this.requests.push(a);
      });
    await waitFor(
      `the registry at ${this.url}`,
      async () => {
        if (proc.exitCode !== null) throw new Error(`registry exited ${proc.exitCode}: ${this.logs.slice(-2000)}`);
        return fetch(`${this.url}/v2/`).then(
          (r) => r.status === 200,
          () => false,
        );
      },
      20_000,
      100,
    );
  }

  /** Waits until its access log has been quiet for `quietMs` (a request's line comes after its last byte). */
  async settled(quietMs = 300): Promise<void> {
    let n = -1;
    await waitFor("the registry's access log to settle", () => (n === this.requests.length ? true : ((n = this.requests.length), false)), 20_000, quietMs);
  }

  /** GETs of a blob answered 200: what the upstream really sent. */
  blobGets(digest: string): number {
    return this.requests.filter((r) => r.method === "GET" && r.status === 200 && r.blob?.digest === digest).length;
  }

  async dispose(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise<void>((r) => p.once("exit", () => r()));
      p.kill("SIGTERM");
      const t = setTimeout(() => p.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
