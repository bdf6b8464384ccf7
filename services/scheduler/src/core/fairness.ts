import type { JobView } from "./state.js";

/**
 * The order pending jobs get a chance at capacity: FIFO within an org (by first JobQueued,
 * so a requeued job keeps its place), round-robin across orgs. The org served longest ago
 * (by the sequence of its last placement; never served first) goes first in every round,
 * so one org's burst of 500 jobs takes turns with another org's single job instead of
 * queueing it behind all 500. Ties go to the org whose head job queued first.
 */
export function fairOrder(pending: readonly JobView[], orgServedSeq: ReadonlyMap<string, number>): JobView[] {
  const byOrg = new Map<string, JobView[]>();
  for (const j of pending) {
    const line = byOrg.get(j.org);
    if (line) line.push(j);
    else byOrg.set(j.org, [j]);
  }
  const lines = [...byOrg.entries()].map(([org, jobs]) => {
    jobs.sort((a, b) => a.queuedSeq - b.queuedSeq || (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0));
    return { served: orgServedSeq.get(org) ?? 0, jobs };
  });
  lines.sort((a, b) => a.served - b.served || a.jobs[0]!.queuedSeq - b.jobs[0]!.queuedSeq);
  const out: JobView[] = [];
  for (let round = 0; out.length < pending.length; round++) {
    for (const line of lines) {
      const j = line.jobs[round];
      if (j) out.push(j);
    }
  }
  return out;
}
