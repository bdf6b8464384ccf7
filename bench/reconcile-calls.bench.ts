// `npm run bench -- reconcile-calls [--jobs 100] [--minutes 10] [--idle 0.1] [--lost 0.01]`:
// provider API calls per hour the reconciler makes for a steady load, from its pure core
// (projection + staleJobs + the per-pass calls of loop.ts) on a simulated clock. Each figure is
// printed with its ratio to a baseline measured in the same run: asking about every live job
// every RECONCILE_INTERVAL (no stale threshold, no backoff).
//   per pass: 1 GET /app/hook/deliveries page per 100 deliveries since the checkpoint;
//   per stale job: 1 GET …/actions/jobs/{id};
//   per VmIdle: 1 GET per candidate + GET …/runners?name= + DELETE …/runners/{id}.
import { parseArgs } from "node:util";
import type { DomainEvent } from "@oneshot/proto";
import { evolve, initialState } from "../services/ingest/src/reconcile/projection.js";
import { staleJobs } from "../services/ingest/src/reconcile/stale-jobs.js";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "100" },
    minutes: { type: "string", default: "10" },
    idle: { type: "string", default: "0.1" },
    lost: { type: "string", default: "0.01" },
    hours: { type: "string", default: "6" },
  },
});
const perHour = Number(values.jobs);
const runMs = Number(values.minutes) * 60_000;
const idleShare = Number(values.idle);
const lostShare = Number(values.lost);
const hours = Number(values.hours);
const INTERVAL = 120_000;
const STALE = 300_000;
const START_DELAY = 30_000;

let seq = 0;
const put = (s: ReturnType<typeof initialState>, e: DomainEvent, at: number) =>
  evolve(s, {
    ...e,
    id: `e${++seq}`,
    occurredAt: new Date(at).toISOString(),
    correlationId: "c",
    causationId: null,
    version: 1,
    subject: `evt.job.${(e.data as { jobId: string }).jobId}`,
    seq,
  } as never);

function simulate(o: { naive: boolean }) {
  const s = initialState();
  const checked = new Map<string, number>();
  const gap = 3600_000 / perHour;
  const horizon = hours * 3600_000;
  type Ev = { at: number; e: DomainEvent };
  const evs: Ev[] = [];
  let n = 0;
  for (let at = 0; at < horizon; at += gap, n++) {
    const jobId = `gh-${n}`;
    evs.push({
      at,
      e: {
        type: "JobQueued",
        data: {
          jobId,
          source: { provider: "github", repo: "a/b", org: "a", providerJobId: String(n), labels: ["oneshot"], installationId: 1 },
          spec: { arch: "amd64", vcpus: 2, memMiB: 2048, diskGiB: 10, image: "full", timeoutSec: 3600 },
        },
      },
    });
    // A lost `completed` (share `lost`): the job stays started in the log until the reconciler asks.
    const lost = (n * 9973) % 10_000 < lostShare * 10_000;
    evs.push({ at: at + START_DELAY, e: { type: "JobStarted", data: { jobId, reportedBy: "webhook" } } });
    if (!lost)
      evs.push({ at: at + START_DELAY + runMs, e: { type: "JobCompleted", data: { jobId, conclusion: "success", exitCode: null, reportedBy: "provider" } } });
  }
  evs.sort((a, b) => a.at - b.at);
  let i = 0;
  let calls = 0;
  let deliveriesSince = 0;
  for (let now = 0; now < horizon; now += INTERVAL) {
    while (i < evs.length && evs[i]!.at <= now) {
      put(s, evs[i]!.e, evs[i]!.at);
      i++;
      deliveriesSince++;
    }
    if (now < 3600_000) continue; // warm up one hour, count the rest
    calls += Math.max(1, Math.ceil(deliveriesSince / 100)); // deliveries pages
    deliveriesSince = 0;
    const due = o.naive
      ? [...s.jobs.values()].filter((j) => j.state === "queued" || j.state === "started")
      : staleJobs(s, now, checked, { staleAfterMs: STALE, intervalMs: INTERVAL, maxPerTick: 1e9, hasApi: () => true });
    for (const j of due) {
      checked.set(j.jobId, now);
      calls++;
      // The answer for a lost completion ends the job (the reconciler appends JobCompleted).
      if (j.state === "started" && now - (j.startedAt ?? 0) >= runMs)
        put(s, { type: "JobCompleted", data: { jobId: j.jobId, conclusion: "success", exitCode: null, reportedBy: "reconcile" } }, now);
    }
  }
  const idleCalls = perHour * idleShare * 3; // 1 candidate + list + delete per VmIdle
  return calls / (hours - 1) + idleCalls;
}

const ours = simulate({ naive: false });
const naive = simulate({ naive: true });
console.log(
  JSON.stringify({
    bench: "reconcile-calls",
    jobsPerHour: perHour,
    jobMinutes: Number(values.minutes),
    idleShare,
    lostShare,
    callsPerHour: Math.round(ours),
    baselineEveryLiveJobEveryInterval: Math.round(naive),
    ratio: Number((ours / naive).toFixed(3)),
    perInstallationBudget: 4000,
    budgetShare: Number((ours / 4000).toFixed(3)),
  }),
);
