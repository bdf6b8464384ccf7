import type { JobView, SchedulerState } from "./state.js";

/** Moves a job to another phase, keeping the phase and scope indexes in step. */
export function setPhase(s: SchedulerState, job: JobView, phase: JobView["phase"]): void {
  index(s, job.phase)?.delete(job.jobId);
  job.phase = phase;
  index(s, phase)?.add(job.jobId);
  if (phase === "started") unscope(s, job);
}

/** Registers a new job in the indexes of its phase and scope. */
export function track(s: SchedulerState, job: JobView): void {
  s.jobs.set(job.jobId, job);
  index(s, job.phase)?.add(job.jobId);
  if (job.local || job.phase === "started") return;
  let set = s.scopeJobs.get(job.scope);
  if (!set) s.scopeJobs.set(job.scope, (set = new Set()));
  set.add(job.jobId);
}

/** The job ended (at `atMs`, the event's time): later events about it change nothing. */
export function finish(s: SchedulerState, jobId: string, atMs: number): void {
  const job = s.jobs.get(jobId);
  if (job) {
    index(s, job.phase)?.delete(jobId);
    unscope(s, job);
  }
  s.jobs.delete(jobId);
  // Deleted first so that the map stays in the order jobs ended (job-memory.ts forgets from its front).
  s.finished.delete(jobId);
  s.finished.set(jobId, atMs);
}

function unscope(s: SchedulerState, job: JobView): void {
  const set = s.scopeJobs.get(job.scope);
  if (!set) return;
  set.delete(job.jobId);
  if (set.size === 0) s.scopeJobs.delete(job.scope);
}

const index = (s: SchedulerState, phase: JobView["phase"]): Set<string> | undefined =>
  phase === "pending" ? s.pending : phase === "released" ? s.released : undefined;
