import { clip, onJob, rebound, scheduled, type Decision } from "./decision.js";
import { assign } from "./assign.js";
import { fairOrder } from "./fairness.js";
import { feasibilityCache } from "./feasibility.js";
import { followUp, type Policy } from "./follow-ups.js";
import { FreeVms } from "./free-vms.js";
import { idleVms } from "./idle-vms.js";
import type { JobView, SchedulerState } from "./state.js";
import { placePreempting, placeWarm, withAssigned } from "./warm-vms.js";

export const defaultPolicy: Policy = { maxAttempts: 3, idleDeadlineMs: 600_000, vanishedPolicy: "requeue" };

/**
 * Everything the scheduler should append, given the state, in this order: follow-ups owed to
 * jobs that lost their claim (a rebind to a free VM, a requeue, a failure, a local job's end);
 * `JobUnschedulable` for jobs no registered host could ever hold; `JobRebound` for pending
 * jobs a free VM covers, before any new boot; a `JobScheduled` for every other pending job that
 * fits somewhere now; `VmIdle` for VMs with nothing left to do. A job that fits nowhere now
 * waits (no event); so does everyone while a requeue is being written. Reads the state, never
 * changes it; `now` stamps the decisions and is the idle deadline's clock.
 */
export function place(state: SchedulerState, now: string, policy: Policy = defaultPolicy): Decision[] {
  const decisions: Decision[] = [];
  const vms = new FreeVms(state);
  for (const id of state.released) {
    const job = state.jobs.get(id);
    if (job?.outcome) decisions.push(followUp(job, job.outcome, policy, now, vms.pick));
  }
  // A job being requeued keeps its place in line: nothing is placed until its JobRequeued is
  // in the log and it is pending again, or the jobs behind it would take its capacity first
  // (and a free VM it could take would be declared idle).
  if (decisions.some((d) => d.event.type === "JobRequeued")) return decisions;
  if (state.pending.size > 0) placePending(state, now, vms, decisions);
  decisions.push(...idleVms(state, now, policy, vms.taken));
  return decisions;
}

function placePending(state: SchedulerState, now: string, vms: FreeVms, decisions: Decision[]): void {
  const hosts = [...state.hosts.values()];
  const neverFits = feasibilityCache(hosts);
  const candidates: JobView[] = [];
  for (const id of state.pending) {
    const job = state.jobs.get(id);
    if (!job) continue;
    const why = neverFits(job);
    if (why === undefined) candidates.push(job);
    else decisions.push(onJob(job, { type: "JobUnschedulable", data: { jobId: job.jobId, reason: clip(why) } }, `unsched:${job.jobId}:${job.attempt}`, now));
  }
  const ordered = fairOrder(candidates, state.orgServedSeq);
  const toBoot: JobView[] = [];
  for (const job of ordered) {
    const vm = job.local ? undefined : vms.pick(job);
    if (vm) decisions.push(rebound(job, vm, undefined, `free VM booted for ${vm.jobId} covers it`, now));
    else toBoot.push(job);
  }
  // A ready warm VM of the job's shape first (docs/warm-pool.md): no boot to wait for.
  const warm = placeWarm(state, toBoot, now);
  decisions.push(...warm.decisions);
  const assigned = assign(warm.cold, warm.hosts);
  for (const [job, hostId] of assigned) {
    decisions.push(scheduled(job, hostId, state.hostSubjectSeq.get(hostId) ?? 0, now));
  }
  // Cold jobs that fit nowhere: room made by destroying warm VMs of other shapes.
  if (state.warm?.size) {
    const placed = new Set(assigned.map(([j]) => j.jobId));
    decisions.push(
      ...placePreempting(
        state,
        warm.cold.filter((j) => !placed.has(j.jobId)),
        withAssigned(warm.hosts, assigned),
        warm.taken,
        now,
      ),
    );
  }
}
