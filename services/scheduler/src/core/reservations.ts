import { minus, plus, resourcesOf } from "./resources.js";
import { allocationKey, type Allocation, type SchedulerState } from "./state.js";
import { refresh } from "./vm-index.js";

/** A JobScheduled takes capacity on its host; the same placement seen twice takes it once. */
export function reserve(s: SchedulerState, a: Allocation): boolean {
  const key = allocationKey(a.hostId, a.vmId);
  if (s.allocations.has(key)) return false;
  a.res = resourcesOf(a.res);
  s.allocations.set(key, a);
  s.vmKeys.set(a.vmId, key);
  const host = s.hosts.get(a.hostId);
  if (host) host.used = plus(host.used, a.res);
  refresh(s, a);
  return true;
}

/** The VM is gone: its capacity is free again. Returns the reservation it held, if any. */
export function release(s: SchedulerState, hostId: string, vmId: string): Allocation | undefined {
  const key = allocationKey(hostId, vmId);
  const a = s.allocations.get(key);
  if (!a) return undefined;
  s.allocations.delete(key);
  if (s.vmKeys.get(vmId) === key) s.vmKeys.delete(vmId);
  const host = s.hosts.get(hostId);
  if (host) host.used = minus(host.used, a.res);
  refresh(s, a);
  return a;
}
