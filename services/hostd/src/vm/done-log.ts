import { appendFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/** What VmDestroyed will say, kept until it is stored (a crash in between must not lose it). */
export interface PendingDestroyed {
  vmId: string;
  jobId: string;
  correlationId: string;
  causationId: string;
  removed: string[];
}

/**
 * The end of VMs on this host, in one journal file (nothing named after a VM outlives it):
 *  - `P <json>`: the VM is destroyed on the machine, its VmDestroyed not stored yet;
 *  - `D <vmId> <iso time>`: VmDestroyed stored. A redelivered JobScheduled for it never runs again.
 * Loading replays the journal, keeps done entries younger than `keepMs` and what is pending,
 * and rewrites it compacted.
 */
export class DoneLog {
  private readonly done = new Map<string, string>();
  private readonly pendingByVm = new Map<string, PendingDestroyed>();

  constructor(private readonly path: string) {}

  async load(now: Date, keepMs = 7 * 24 * 3600 * 1000): Promise<void> {
    const text = await readFile(this.path, "utf8").catch(() => "");
    for (const line of text.split("\n")) {
      if (line.startsWith("P ")) {
        try {
          const p = JSON.parse(line.slice(2)) as PendingDestroyed;
          this.pendingByVm.set(p.vmId, p);
        } catch {
          // A torn last line from a crash mid-write: the run dir is still there, recover() redoes it.
        }
        continue;
      }
      const [tag, vmId, at] = line.trim().split(" ");
      if (tag === "D" && vmId && at) {
        this.pendingByVm.delete(vmId);
        if (now.getTime() - Date.parse(at) < keepMs) this.done.set(vmId, at);
      }
    }
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const lines = [...[...this.pendingByVm.values()].map((p) => `P ${JSON.stringify(p)}`), ...[...this.done].map(([v, at]) => `D ${v} ${at}`)];
    await writeFile(this.path, lines.map((l) => `${l}\n`).join(""), { mode: 0o600 });
  }

  has(vmId: string): boolean {
    return this.done.has(vmId) || this.pendingByVm.has(vmId);
  }

  pending(): PendingDestroyed[] {
    return [...this.pendingByVm.values()];
  }

  async destroying(p: PendingDestroyed): Promise<void> {
    this.pendingByVm.set(p.vmId, p);
    await appendFile(this.path, `P ${JSON.stringify(p)}\n`, { mode: 0o600 });
  }

  async add(vmId: string, now: Date): Promise<void> {
    this.pendingByVm.delete(vmId);
    if (this.done.has(vmId)) return;
    this.done.set(vmId, now.toISOString());
    await appendFile(this.path, `D ${vmId} ${now.toISOString()}\n`, { mode: 0o600 });
  }
}
