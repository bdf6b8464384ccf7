import { appendFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * VMs this host has finished (destroyed), so a redelivered JobScheduled never runs a job
 * twice. One file of `<vmId> <iso time>` lines (no file per VM: nothing named after a VM
 * outlives it), pruned of entries older than `keepMs` at load.
 */
export class DoneLog {
  private readonly done = new Map<string, string>();

  constructor(private readonly path: string) {}

  async load(now: Date, keepMs = 7 * 24 * 3600 * 1000): Promise<void> {
    const text = await readFile(this.path, "utf8").catch(() => "");
    for (const line of text.split("\n")) {
      const [vmId, at] = line.trim().split(" ");
      if (vmId && at && now.getTime() - Date.parse(at) < keepMs) this.done.set(vmId, at);
    }
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    await writeFile(this.path, [...this.done].map(([v, at]) => `${v} ${at}\n`).join(""), { mode: 0o600 });
  }

  has(vmId: string): boolean {
    return this.done.has(vmId);
  }

  async add(vmId: string, now: Date): Promise<void> {
    if (this.done.has(vmId)) return;
    this.done.set(vmId, now.toISOString());
    await appendFile(this.path, `${vmId} ${now.toISOString()}\n`, { mode: 0o600 });
  }
}
