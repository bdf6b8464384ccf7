import { verifyMarker } from "./marker-auth.js";

/**
 * Reads the guest agent's console markers (docs/guest-contract.md) out of console text fed in
 * chunks of any size (pure, incremental). Only lines whose MAC verifies under the VM's marker
 * key count (marker-auth.ts): a job that prints `ONESHOT-JOB-EXIT=0` has printed a line, no more.
 */
export class ConsoleMarkers {
  agentReady = false;
  /** A warm pool VM's agent is set up and waits for its job drive (docs/warm-pool.md). */
  agentWarm = false;
  jobStarted = false;
  exitCode: number | undefined;
  agentError: string | undefined;
  /**
   * An unauthenticated `ONESHOT-AGENT-ERROR` from before the agent was ready (the initramfs,
   * or the agent before it has the key): only ever a boot failure's reason, never an exit code.
   * Before the ready marker no job has run, so nothing but the guest's own boot wrote it.
   */
  unverifiedAgentError: string | undefined;
  /** Lines that looked like markers (`ONESHOT-…`) without a valid MAC. */
  forged = 0;
  private partial = "";

  constructor(private readonly key: Buffer) {}

  /** Feeds a chunk; returns the (verified) marker texts it completed, in order. */
  push(chunk: string): string[] {
    const text = this.partial + chunk;
    const lines = text.split("\n");
    this.partial = lines.pop() ?? "";
    const markers: string[] = [];
    for (const raw of lines) {
      const m = this.line(raw.replace(/\r$/, ""));
      if (m) markers.push(m);
    }
    // A guest could print a line without end: never buffer more than a marker's worth of it.
    if (this.partial.length > 4096) this.partial = this.partial.slice(-4096);
    return markers;
  }

  private line(line: string): string | undefined {
    // Kernel messages may be interleaved on the same console: markers must start the line.
    const v = verifyMarker(this.key, line);
    if (!("text" in v)) {
      if (v.forged) this.forged++;
      if (v.forged && !this.agentReady && line.startsWith("ONESHOT-AGENT-ERROR")) this.unverifiedAgentError = errorText(line);
      return undefined;
    }
    const t = v.text;
    if (t === "ONESHOT-AGENT-READY" || t.startsWith("ONESHOT-AGENT-READY ")) this.agentReady = true;
    else if (t === "ONESHOT-AGENT-WARM") this.agentWarm = true;
    else if (t.startsWith("ONESHOT-JOB-START")) this.jobStarted = true;
    else if (/^ONESHOT-JOB-EXIT=-?\d{1,10}$/.test(t)) this.exitCode = Number(t.slice("ONESHOT-JOB-EXIT=".length));
    else if (t.startsWith("ONESHOT-AGENT-ERROR")) this.agentError = errorText(t);
    else return undefined;
    return t;
  }
}

const errorText = (line: string): string => line.slice("ONESHOT-AGENT-ERROR".length).trim().slice(0, 512);
