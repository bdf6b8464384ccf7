import { clip, onJob, scheduled, type Decision } from "./decision.js";
import { assign } from "./assign.js";
import { fairOrder } from "./fairness.js";
import { feasibilityCache } from "./feasibility.js";
import { followUp, type Policy } from "./follow-ups.js";
import type { JobView, SchedulerState } from "./state.js";

export const defaultPolicy: Policy = { maxAttempts: 3 };

/**
 * Everything the scheduler should append, given the state: follow-ups owed to jobs whose VM
 * is gone, `JobUnschedulable` for jobs no registered host could ever hold, and a
 * `JobScheduled` for every pending job that fits somewhere now. A job that fits nowhere now
 * waits (no event); so does everyone while a requeue is being written. Reads the state, never changes it; `now` only stamps the decisions.
 */
export function place(state: SchedulerState, now: string, policy: Policy = defaultPolicy): Decision[] {
  const decisions: Decision[] = [];
  const pending: JobView[] = [];
  for (const id of state.released) {
    const job = state.jobs.get(id);
    if (job?.outcome) decisions.push(followUp(job, job.outcome, policy, now));
  }
  for (const id of state.pending) {
    const job = state.jobs.get(id);
    if (job) pending.push(job);
  }
  // A job being requeued keeps its place in line: nothing is placed until its JobRequeued is
  // in the log and it is pending again, or the jobs behind it would take its capacity first.
  if (pending.length === 0 || decisions.some((d) => d.event.type === "JobRequeued")) return decisions;
  const hosts = [...state.hosts.values()];
  const neverFits = feasibilityCache(hosts);
  const candidates: JobView[] = [];
  for (const job of pending) {
    const why = neverFits(job);
    if (why === undefined) candidates.push(job);
    else decisions.push(onJob(job, { type: "JobUnschedulable", data: { jobId: job.jobId, reason: clip(why) } }, `unsched:${job.jobId}:${job.attempt}`, now));
  }
  for (const [job, hostId] of assign(fairOrder(candidates, state.orgServedSeq), hosts)) {
    decisions.push(scheduled(job, hostId, state.hostSubjectSeq.get(hostId) ?? 0, now));
  }
  return decisions;
}
