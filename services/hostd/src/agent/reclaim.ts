import { rm } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import type { LeakedResource } from "@oneshot/proto";
import { VM_COMMENT } from "../net/nft-rules.js";
import { destroyVm, type DestroyDeps } from "../vm/destroy.js";
import { DISK_FILE, readRecord, runDirOf, vmsDir } from "../vm/run-dir.js";

export class ReclaimRefusedError extends Error {
  override readonly name = "ReclaimRefusedError";
  readonly retryable = false;
}

/** The VM id of a path inside `<state>/hostd/vms/<vmId>[/file]`, else undefined: reclaim never deletes anything else. */
export function vmIdOfPath(stateDir: string, path: string): string | undefined {
  const root = resolve(vmsDir(stateDir));
  const p = resolve(path);
  const id = dirname(p) === root ? basename(p) : dirname(dirname(p)) === root ? basename(dirname(p)) : undefined;
  return id && /^[a-z0-9]{1,12}$/.test(id) ? id : undefined;
}

/**
 * Removes one leaked resource that no live VM of this process owns, with the same destroy
 * steps as a VM's end. Names are checked against oneshot's naming first: a reclaim request
 * can only ever remove `os-*` taps, `oneshot:*` rules and files under the VM run dirs, and
 * never a VM whose run dir says another host owns it.
 */
export async function reclaimResource(d: DestroyDeps & { hostId?: string }, stateDir: string, r: LeakedResource): Promise<void> {
  const refuse = (why: string) => {
    throw new ReclaimRefusedError(`${r.kind} ${r.name}: ${why}`);
  };
  const whole = async (vmId: string) => {
    const rec = await readRecord(runDirOf(stateDir, vmId));
    if (rec && d.hostId && rec.hostId !== d.hostId) refuse(`owned by host ${rec.hostId}`);
    await destroyVm(d, vmId, runDirOf(stateDir, vmId));
  };
  switch (r.kind) {
    case "vm":
      if (!/^[a-z0-9]{1,12}$/.test(r.name)) refuse("not a VM id");
      return whole(r.name);
    case "rundir": {
      const vmId = vmIdOfPath(stateDir, r.name);
      if (!vmId || resolve(r.name) !== runDirOf(resolve(stateDir), vmId)) refuse("not a VM run dir");
      return whole(vmId!);
    }
    case "tap": {
      if (!/^os-[a-z0-9]{1,12}$/.test(r.name)) refuse("not a oneshot tap (os-<vmId>)");
      await d.links.remove(r.name);
      return;
    }
    case "nft": {
      const m = VM_COMMENT.exec(r.name);
      if (!m) refuse("not a oneshot rule comment (oneshot:<vmId>)");
      await d.nft.removeVmRules(m![1]!);
      return;
    }
    case "disk": {
      const vmId = vmIdOfPath(stateDir, r.name);
      if (!vmId || !DISK_FILE.test(basename(r.name)) || dirname(resolve(r.name)) !== runDirOf(resolve(stateDir), vmId)) refuse("not a VM disk of this host");
      await rm(resolve(r.name), { force: true });
      return;
    }
    default: {
      const never: never = r.kind;
      refuse(`unknown kind ${String(never)}`);
    }
  }
}
