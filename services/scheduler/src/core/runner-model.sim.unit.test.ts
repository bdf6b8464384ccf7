import fc from "fast-check";
import type { DomainEvent, Stored } from "@oneshot/proto";
import { describe, expect, it } from "vitest";
import { registered } from "../testing/fixtures.js";
import { evolve } from "./evolve.js";
import { defaultPolicy, place } from "./place.js";
import { initialState } from "./state.js";
import { GithubModel, HostdModel, Ingest, Reconciler, Rng, type Step, type World } from "../testing/runner-world.js";

// The real scheduler core (evolve + place) against a small pure model of GitHub: any idle
// runner whose labels cover a queued job may be handed it, webhooks are dropped, repeated,
// delayed and reordered, jobs are cancelled before pickup. A stand-in hostd boots and kills
// VMs; a stand-in ingest and reconciler turn the model into events. After every run has
// drained, no job is stranded, no busy VM was killed, no VM idled past the deadline and no
// capacity leaked.

const STEP_MS = 5_000;
const RECONCILE_MS = 60_000;
const policy = { ...defaultPolicy, idleDeadlineMs: 120_000 };
/** hostd's boot and kill take a few steps on top of the deadline and one reconcile period. */
const IDLE_SLACK_MS = policy.idleDeadlineMs + RECONCILE_MS + 6 * STEP_MS;

interface RunStats {
  jobs: number;
  idleVmMs: number;
  swaps: number;
  types: Map<string, number>;
}

function simulate(seed: number, o: { jobs: number; hosts: number; lossy: boolean }): RunStats {
  const rng = new Rng(seed);
  const w: World = { t: Date.parse("2026-01-01T00:00:00.000Z"), log: [], state: initialState(), msgIds: new Set(), violations: [] };
  const append = (events: { event: DomainEvent; msgId?: string }[]) => {
    for (const { event, msgId } of events) {
      if (msgId !== undefined) {
        if (w.msgIds.has(msgId)) continue; // JetStream's duplicate window
        w.msgIds.add(msgId);
      }
      const seq = w.log.length + 1;
      const subject = subjectFor(event);
      const stored = {
        ...event,
        version: 1,
        subject,
        seq,
        id: `e-${seq}`,
        occurredAt: new Date(w.t).toISOString(),
        correlationId: "c",
        causationId: null,
      } as Stored<DomainEvent>;
      w.log.push(stored);
      w.state = evolve(w.state, stored);
      hostd.see(stored);
      github.see(stored);
    }
  };
  const github = new GithubModel(rng, w, o.lossy);
  const hostd = new HostdModel(rng, w, github);
  const ingest = new Ingest(w, github);
  const reconciler = new Reconciler(w, github);
  const hostIds = Array.from({ length: o.hosts }, (_, i) => `h${i}`);
  append(hostIds.map((h, i) => ({ event: registered(h, { vcpus: 4, memMiB: 8192, labels: i % 2 ? ["gpu"] : [] }) })));

  let queuedJobs = 0;
  for (let step = 0; step < 3_000; step++) {
    w.t += STEP_MS;
    if (queuedJobs < o.jobs && rng.chance(0.5)) github.queue(`j${queuedJobs++}`, rng.pick(["acme", "beta"]), rng.int(1, 2), o.hosts > 1 && rng.chance(0.25));
    const s: Step = { append };
    github.step(s);
    ingest.step(s);
    if (step % (RECONCILE_MS / STEP_MS) === 0) ingest.reconcile(s);
    reconciler.step(s);
    hostd.step(s);
    append(place(w.state, new Date(w.t).toISOString(), policy).map((d) => ({ event: d.event, msgId: d.msgId })));
    for (const h of w.state.hosts.values()) {
      if (h.used.vcpus > h.capacity.vcpus || h.used.memMiB > h.capacity.memMiB) w.violations.push(`${h.hostId} over capacity at ${step}`);
    }
    hostd.checkIdle(IDLE_SLACK_MS);
    if (queuedJobs === o.jobs && github.drained() && hostd.drained()) break;
  }
  expect(w.violations).toEqual([]);
  if (process.env.SIM_DEBUG && github.unfinished().length) {
    const id = github.unfinished()[0]!.split(":")[0]!;
    console.log("SIMDEBUG", JSON.stringify(github.jobs.get(id)), JSON.stringify(w.state.jobs.get(id)));
    for (const e of w.log) if (JSON.stringify(e.data).includes(`"${id}"`)) console.log("SIMDEBUG", e.seq, e.type, JSON.stringify(e.data).slice(0, 300));
  }
  // The one way to leave a job queued at GitHub: its own VMs failed to boot maxAttempts times
  // and the scheduler gave up (JobFailed), as SCHEDULER_MAX_ATTEMPTS says.
  const gaveUp = new Set(w.log.flatMap((e) => (e.type === "JobFailed" ? [e.data.jobId] : [])));
  for (const e of w.log) if (e.type === "JobFailed") expect(e.data.reason, `${e.data.jobId} failed`).toMatch(/^boot failed 3 times/);
  expect(
    github.unfinished().filter((u) => !gaveUp.has(u.split(":")[0]!)),
    "jobs GitHub still has queued or running",
  ).toEqual([]);
  expect(hostd.liveVms(), "VMs still alive at the end").toEqual([]);
  for (const h of w.state.hosts.values()) expect(h.used, `capacity leaked on ${h.hostId}`).toEqual({ vcpus: 0, memMiB: 0, diskGiB: 0 });
  // Exactly one runner ran each job GitHub handed out; the rest were cancelled before pickup.
  for (const j of github.jobs.values()) {
    expect(j.ranOn.length, `${j.id} (${j.status}): runners that ran it`).toBe(j.status === "completed" ? 1 : 0);
  }
  const types = new Map<string, number>();
  for (const e of w.log) types.set(e.type, (types.get(e.type) ?? 0) + 1);
  // Jobs that ran on a VM booted for another job: what the model is about.
  const bootedFor = new Set(w.log.flatMap((e) => (e.type === "JobScheduled" ? [`${e.data.jobId}@oneshot-${e.data.hostId}-${e.data.vmId}`] : [])));
  const swaps = [...github.jobs.values()].filter((j) => j.ranOn.length && !bootedFor.has(`${j.id}@${j.ranOn[0]}`)).length;
  return { jobs: github.jobs.size, idleVmMs: hostd.idleMs, swaps, types };
}

function subjectFor(e: DomainEvent): string {
  if (e.type.startsWith("Job") && e.type !== "JobScheduled") return `evt.job.${(e.data as { jobId: string }).jobId}`;
  const d = e.data as { hostId: string; vmId?: string };
  return e.type.startsWith("Vm") && !["VmIdle", "VmRetired", "VmVanished"].includes(e.type) ? `evt.host.${d.hostId}.vm.${d.vmId}` : `evt.host.${d.hostId}`;
}

describe("the runner model, simulated (fast-check seeds)", () => {
  it("strands no job, kills no busy VM, idles no VM past the deadline, leaks no capacity", () => {
    let jobs = 0;
    let idleMs = 0;
    let swaps = 0;
    const types = new Map<string, number>();
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 3 }), fc.boolean(), (seed, hosts, lossy) => {
        const r = simulate(seed, { jobs: 12, hosts, lossy });
        jobs += r.jobs;
        idleMs += r.idleVmMs;
        swaps += r.swaps;
        for (const [t, n] of r.types) types.set(t, (types.get(t) ?? 0) + n);
      }),
      {
        numRuns: Number(process.env.SIM_RUNS ?? 200),
        ...(process.env.SIM_SEED ? { seed: Number(process.env.SIM_SEED), path: process.env.SIM_PATH, endOnFailure: true } : {}),
      },
    );
    console.log(
      `runner-model sim: ${jobs} jobs, ${swaps} ran on a VM booted for another job, mean idle-VM seconds per job ${(idleMs / 1000 / Math.max(1, jobs)).toFixed(1)}`,
    );
    console.log(
      `runner-model sim events: ${[...types]
        .filter(([t]) => /Rebound|Requeued|Failed|Idle|Retired|Scheduled|Started|Unsched/.test(t))
        .map(([t, n]) => `${t} ${n}`)
        .join(", ")}`,
    );
  }, 60_000);
});
