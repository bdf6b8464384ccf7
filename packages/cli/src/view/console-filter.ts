/**
 * Splits a guest console stream into the job's own output: the lines between the agent's
 * `ONESHOT-JOB-START` and the last `ONESHOT-JOB-EXIT=<rc>` markers (docs/guest-contract.md).
 * Kernel messages before the start marker are dropped unless `raw` is set. The agent signs its
 * markers (` mac=<hex>`, docs/guest-contract.md); only hostd has the key, so this display filter
 * can only ask for the MAC's shape: a line without one is job output, and the exit code shown
 * as the result always comes from hostd's VmExited, never from here.
 */
export class ConsoleFilter {
  private buf = "";
  private inJob = false;
  exitCode: number | undefined;
  agentError: string | undefined;

  constructor(private readonly raw = false) {}

  /** Feeds a chunk; returns the text to show (complete lines only). */
  push(chunk: string): string {
    this.buf += chunk.replace(/\r/g, "");
    let out = "";
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      out += this.line(line);
    }
    return out;
  }

  /** Whatever is left without a final newline. */
  flush(): string {
    const rest = this.buf;
    this.buf = "";
    return rest ? this.line(rest) : "";
  }

  private line(raw: string): string {
    const signed = / mac=[0-9a-f]{64}$/.exec(raw);
    if (!signed) return this.raw || this.inJob ? `${raw}\n` : "";
    const line = raw.slice(0, signed.index);
    const exit = /^ONESHOT-JOB-EXIT=(-?\d+)$/.exec(line);
    if (exit) {
      this.exitCode = Number(exit[1]);
      this.inJob = false;
      return this.raw ? `${line}\n` : "";
    }
    if (line.startsWith("ONESHOT-JOB-START")) {
      this.inJob = true;
      return this.raw ? `${line}\n` : "";
    }
    if (line.startsWith("ONESHOT-AGENT-ERROR")) {
      this.agentError = line.slice("ONESHOT-AGENT-ERROR".length).trim();
      return this.raw ? `${line}\n` : "";
    }
    return this.raw || this.inJob ? `${line}\n` : "";
  }
}

/** `2g` → 2048, `512m`/`512` → 512 (MiB). */
export function parseMem(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(g|gb|gi|gib|m|mb|mi|mib)?$/i.exec(v.trim());
  if (!m) throw new Error(`--mem ${JSON.stringify(v)}: expected e.g. 512m or 2g`);
  const n = Number(m[1]);
  return Math.round(/^g/i.test(m[2] ?? "m") ? n * 1024 : n);
}

/** `90` / `90s` / `10m` / `1h` → seconds. */
export function parseDuration(v: string): number {
  const m = /^(\d+)(s|m|h)?$/.exec(v.trim());
  if (!m) throw new Error(`--timeout ${JSON.stringify(v)}: expected e.g. 90s, 10m or 1h`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[(m[2] ?? "s") as "s" | "m" | "h"];
}
