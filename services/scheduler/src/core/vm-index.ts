import { allocationKey, type Allocation, type SchedulerState } from "./state.js";

/**
 * Keeps `free` and `waiting` in step with one allocation after any change to it, so a
 * decision reads the VMs that matter without scanning every live one.
 */
export function refresh(s: SchedulerState, a: Allocation): void {
  const key = allocationKey(a.hostId, a.vmId);
  const live = s.allocations.get(key) === a;
  const usable = live && !a.bound && !a.runningJobId && !a.retired && !a.idleWritten && !a.exited && !a.bootFailed && !a.fencing;
  if (usable && a.runner && !a.claim) s.free.add(key);
  else s.free.delete(key);
  if (usable && a.bootedAtMs !== undefined) {
    if (!s.waiting.has(key)) s.waiting.set(key, a.bootedAtMs);
  } else s.waiting.delete(key);
}

/** A new boot time: the VM moves to the end of the deadline queue (boots arrive roughly in time order). */
export function booted(s: SchedulerState, a: Allocation, atMs: number): void {
  a.bootedAtMs = atMs;
  s.waiting.delete(allocationKey(a.hostId, a.vmId));
  refresh(s, a);
}

/** Drops a job's claim on a VM (if it holds it), saying why for VmIdle. */
export function unclaim(s: SchedulerState, hostId: string | undefined, vmId: string | undefined, jobId: string, why: string): void {
  if (hostId === undefined || vmId === undefined) return;
  const a = s.allocations.get(allocationKey(hostId, vmId));
  if (!a || a.claim !== jobId) return;
  delete a.claim;
  a.freedBecause = why;
  refresh(s, a);
}

/** The allocation a JobStarted names: by host and VM when it says both, else by VM id. */
export function allocationFor(s: SchedulerState, vmId: string | undefined, hostId: string | undefined): Allocation | undefined {
  if (vmId === undefined) return undefined;
  const key = hostId !== undefined ? allocationKey(hostId, vmId) : s.vmKeys.get(vmId);
  return key === undefined ? undefined : s.allocations.get(key);
}
