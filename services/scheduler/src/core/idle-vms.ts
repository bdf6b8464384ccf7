import { idle, type Decision } from "./decision.js";
import type { Policy } from "./follow-ups.js";
import { covers } from "./runner-scope.js";
import type { Allocation, SchedulerState } from "./state.js";

/**
 * VmIdle for every VM with no purpose left (docs/runner-model.md, rule 4): free VMs no pending
 * job took this round, and VMs with no running job past the idle deadline, claimed or not. The
 * reconciler checks each candidate with the provider before anything is killed, so a VM whose
 * start webhook was lost is found running rather than killed.
 */
export function idleVms(s: SchedulerState, now: string, policy: Policy, taken: ReadonlySet<string>): Decision[] {
  const out: Decision[] = [];
  const seq = (a: Allocation) => s.hostSubjectSeq.get(a.hostId) ?? 0;
  for (const key of s.free) {
    const a = s.allocations.get(key);
    if (!a || taken.has(key)) continue;
    const why = `booted for ${a.jobId}; ${a.freedBecause ?? "its claim ended"}; no waiting job its runner covers`;
    out.push(idle(a, why, candidates(s, a), seq(a), now));
  }
  const nowMs = Date.parse(now);
  // Insertion order is boot order (up to clock skew between hosts): stop at the first VM
  // younger than the deadline instead of reading every booting VM.
  for (const [key, at] of s.waiting) {
    if (at + policy.idleDeadlineMs > nowMs) break;
    const a = s.allocations.get(key);
    if (!a || taken.has(key) || s.free.has(key)) continue;
    const why = `idle deadline: no job started ${Math.round((nowMs - at) / 1000)}s after boot (booted for ${a.jobId}, claimed by ${a.claim ?? "none"})`;
    out.push(idle(a, why, candidates(s, a), seq(a), now));
  }
  return out;
}

/** Unstarted jobs this VM's runner could have been handed: the reconciler asks the provider about each. */
function candidates(s: SchedulerState, a: Allocation): string[] {
  const out: string[] = [];
  if (!a.runner) return out;
  for (const id of s.scopeJobs.get(a.runner.scope) ?? []) {
    const job = s.jobs.get(id);
    if (job && covers(a, job)) out.push(id);
    if (out.length === 100) break;
  }
  return out;
}
