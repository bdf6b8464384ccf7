/**
 * Reads the guest agent's console markers (docs/guest-contract.md) out of console text fed in
 * chunks of any size (pure, incremental). The exit code is the LAST `ONESHOT-JOB-EXIT=` line:
 * a job may print a fake one earlier.
 */
export class ConsoleMarkers {
  agentReady = false;
  jobStarted = false;
  exitCode: number | undefined;
  agentError: string | undefined;
  private partial = "";

  /** Feeds a chunk; returns the marker lines it completed (in order). */
  push(chunk: string): string[] {
    const text = this.partial + chunk;
    const lines = text.split("\n");
    this.partial = lines.pop() ?? "";
    const markers: string[] = [];
    for (const raw of lines) if (this.line(raw.replace(/\r$/, ""))) markers.push(raw.replace(/\r$/, ""));
    // A guest could print a line without end: never buffer more than a marker's worth of it.
    if (this.partial.length > 4096) this.partial = this.partial.slice(-4096);
    return markers;
  }

  private line(line: string): boolean {
    // Kernel messages may be interleaved on the same console: markers must start the line.
    if (line === "ONESHOT-AGENT-READY" || line.startsWith("ONESHOT-AGENT-READY ")) return (this.agentReady = true);
    if (line.startsWith("ONESHOT-JOB-START")) return (this.jobStarted = true);
    const exit = /^ONESHOT-JOB-EXIT=(-?\d{1,10})\s*$/.exec(line);
    if (exit) {
      this.exitCode = Number(exit[1]);
      return true;
    }
    if (line.startsWith("ONESHOT-AGENT-ERROR")) {
      this.agentError = line.slice("ONESHOT-AGENT-ERROR".length).trim().slice(0, 512);
      return true;
    }
    return false;
  }
}
