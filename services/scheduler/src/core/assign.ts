import type { HostView, JobView } from "./state.js";
import { Bins } from "./bins.js";

export type Assignment = [job: JobView, hostId: string][];

/**
 * Chooses a host for as many of `ordered` (fairness order) as fit now.
 *
 * Fairness decides *who* gets capacity, packing decides *where*:
 *  1. Fairness pass: in fairness order, each job takes its best-fit host if one has room
 *     (a job that does not fit waits; the ones behind it still get their turn).
 *  2. Packing pass: the same admitted jobs, biggest first (best-fit decreasing), on a fresh
 *     copy of the room; then the jobs that did not fit in pass 1 try again, in fairness order.
 *     Used when it places every admitted job and opens no more empty hosts than pass 1, so
 *     nobody fairness admitted loses their place to better packing.
 * Arrival order is what online best fit sees; sorting a batch by size first is what gets
 * close to the lower bound on hosts used (see bench/scheduler.bench.ts).
 */
export function assign(ordered: readonly JobView[], hosts: readonly HostView[]): Assignment {
  const fair = new Bins(hosts);
  const admitted: Assignment = [];
  const waiting: JobView[] = [];
  for (const job of ordered) {
    const hostId = fair.take(job.spec.arch, job.requiredLabels, job.spec, job.spec.image);
    if (hostId) admitted.push([job, hostId]);
    else waiting.push(job);
  }
  if (admitted.length < 2) return admitted;

  const packed = new Bins(hosts);
  const repacked: Assignment = [];
  for (const job of biggestFirst(
    admitted.map(([j]) => j),
    hosts,
  )) {
    const hostId = packed.take(job.spec.arch, job.requiredLabels, job.spec, job.spec.image);
    if (!hostId) return admitted;
    repacked.push([job, hostId]);
  }
  if (packed.opened > fair.opened) return admitted;
  for (const job of waiting) {
    const hostId = packed.take(job.spec.arch, job.requiredLabels, job.spec, job.spec.image);
    if (hostId) repacked.push([job, hostId]);
  }
  return repacked;
}

/**
 * Decreasing by dominant share (the largest fraction of the arch's biggest host the job asks
 * for, on any resource), then by the sum of shares; stable, so equal jobs keep fairness order.
 */
function biggestFirst(jobs: JobView[], hosts: readonly HostView[]): JobView[] {
  const max = new Map<string, [number, number, number]>();
  for (const h of hosts) {
    const m = max.get(h.arch) ?? [1, 1, 1];
    max.set(h.arch, [Math.max(m[0], h.capacity.vcpus), Math.max(m[1], h.capacity.memMiB), Math.max(m[2], h.capacity.diskGiB)]);
  }
  const keyed = jobs.map((job, i) => {
    const [v, m, d] = max.get(job.spec.arch) ?? [1, 1, 1];
    const shares = [job.spec.vcpus / v, job.spec.memMiB / m, job.spec.diskGiB / d];
    return { job, i, dominant: Math.max(...shares), sum: shares[0]! + shares[1]! + shares[2]! };
  });
  keyed.sort((a, b) => b.dominant - a.dominant || b.sum - a.sum || a.i - b.i);
  return keyed.map((k) => k.job);
}
