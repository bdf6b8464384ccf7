import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Links } from "../net/links.js";
import type { Nft } from "../net/nft.js";
import { tapName } from "../net/vm-address.js";
import type { Logger } from "@oneshot/runtime";
import type { VmmDriver } from "../vmm/port.js";
import { DISK_FILE, removeRunDir } from "./run-dir.js";

export interface DestroyDeps {
  driver: VmmDriver;
  nft: Nft;
  links: Links;
  /**
   * Reads what the VM's egress counters hold before its nft elements go with its rules: drops
   * in the last moments of a job (after the reporter's last poll) would otherwise be lost.
   */
  beforeRulesRemoved?: () => Promise<void>;
}

/** Something a destroy step could not remove, with the resource it concerns. */
export class DestroyError extends Error {
  override readonly name = "DestroyError";
  readonly retryable = true;
  constructor(
    readonly vmId: string,
    readonly step: string,
    cause: unknown,
  ) {
    super(`vm ${vmId}: destroy step ${step} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/**
 * Removes everything of one VM, in the order that cannot strand anything: the VMM process
 * (it holds the tap and disks), its nft rules, its tap, the driver's files, the disks, then
 * the run dir. Every step measures first, so this is safe to repeat after a crash at any line
 * and on a VM this process never saw (reclaim). Returns what it removed, for VmDestroyed.
 */
export async function destroyVm(d: DestroyDeps, vmId: string, runDir: string, o: { keepRecord?: boolean; graceMs?: number } = {}): Promise<string[]> {
  const graceMs = o.graceMs ?? 5_000;
  const removed: string[] = [];
  const step = async (name: string, f: () => Promise<void>) => {
    try {
      await f();
    } catch (e) {
      throw new DestroyError(vmId, name, e);
    }
  };
  await step("vmm", async () => {
    const procs = (await d.driver.list()).filter((p) => p.vmId === vmId);
    await d.driver.stop(vmId, runDir, graceMs);
    removed.push(...procs.map((p) => `process:${p.pid}`));
  });
  await step("nft", async () => {
    try {
      await d.beforeRulesRemoved?.();
    } catch {
      // Best effort: a report that cannot be read must not keep a VM's rules (or the VM) alive.
    }
    const n = await d.nft.removeVmRules(vmId);
    if (n) removed.push(`nft:oneshot:${vmId} (${n} rules)`);
  });
  await step("tap", async () => {
    if (await d.links.remove(tapName(vmId))) removed.push(`tap:${tapName(vmId)}`);
  });
  await step("vmm-files", () => d.driver.cleanup(vmId, runDir));
  await step("disks", async () => {
    for (const f of await readdir(runDir).catch(() => [] as string[])) {
      if (!DISK_FILE.test(f)) continue;
      await rm(join(runDir, f), { force: true });
      removed.push(`disk:${join(runDir, f)}`);
    }
  });
  await step("rundir", async () => {
    if (!o.keepRecord) {
      if (await removeRunDir(runDir)) removed.push(`rundir:${runDir}`);
      return;
    }
    // The record stays until VmDestroyed is stored: a crash before that redoes the destroy.
    for (const f of await readdir(runDir).catch(() => [] as string[])) if (f !== "vm.json") await rm(join(runDir, f), { recursive: true, force: true });
  });
  return removed;
}

/**
 * `destroyVm`, retried: a step that failed (busy tap, nft hiccup) gets up to five goes, 0.5 s
 * apart and growing. After the last, what is left is the reclaim's, and the list says so
 * (`failed:<why>`). Never throws.
 */
export async function destroyVmRetrying(d: DestroyDeps, vmId: string, runDir: string, log: Logger, what = "destroy"): Promise<string[]> {
  let removed: string[] = [];
  for (let attempt = 1; ; attempt++) {
    try {
      removed = removed.concat(await destroyVm(d, vmId, runDir, { keepRecord: true }));
      return removed;
    } catch (e) {
      if (attempt >= 5) {
        log.error({ err: e }, `${what} failed; leaving the rest to reclaim`);
        removed.push(`failed:${(e as Error).message.slice(0, 200)}`);
        return removed;
      }
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}
