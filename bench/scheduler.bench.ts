// `npm run bench -- scheduler [--workload FILE] [--out FILE] [--e2e-jobs N] [--no-e2e]`
// (after `npm run build`). One JSON line per case.
//
//  pack-<N>:   the pure core places a burst of mixed jobs on N empty hosts (100, 1,000, 10,000);
//              placements/s, hosts used against the lower bound max over resources of
//              ceil(Σ demand / host capacity) per arch, and first-fit decreasing (FFD) run on
//              the same workload in the same process as the baseline.
//  steady-<N>: N hosts kept ~70% full (VMs end as new jobs arrive), one job per decision, as the
//              service loop sees it: decisions/s and p50/p99 of one place() call.
//  workload:   `--workload FILE` (JSON {hosts:[{id,arch,vcpus,memMiB,diskGiB}], jobs:[{id,arch,
//              vcpus,memMiB,diskGiB,org?}]}) through the same packing case. `--out FILE` writes its
//              placements (or pack-1000's) as [{jobId, hostId}].
//  e2e-*:      through a real nats-server and a scheduler process: JobQueued appended → its
//              JobScheduled seen by a follower (what hostd sees), p50/p99, one job at a time and
//              in a burst, against the bare append → follow latency of the same server.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { DomainEvent, Stored } from "@oneshot/proto";
import { evolve, historyOf, initialState, place, type SchedulerState } from "@oneshot/scheduler";
import { seededRng } from "@oneshot/testing";

const { values } = parseArgs({
  options: {
    workload: { type: "string" },
    out: { type: "string" },
    "e2e-jobs": { type: "string", default: "1000" },
    "no-e2e": { type: "boolean", default: false },
    sizes: { type: "string", default: "100,1000,10000" },
  },
});
const line = (o: Record<string, unknown>) => console.log(JSON.stringify(o));

type Arch = "amd64" | "arm64";
interface WHost {
  id: string;
  arch: Arch;
  vcpus: number;
  memMiB: number;
  diskGiB: number;
}
interface WJob {
  id: string;
  arch: Arch;
  vcpus: number;
  memMiB: number;
  diskGiB: number;
  org?: string;
}
interface Workload {
  hosts: WHost[];
  jobs: WJob[];
}

// ---- deterministic workload generation (the bench may be random; the core may not) ----
const rng = seededRng;
const GiB = 1024;
const hostShape: Record<Arch, Omit<WHost, "id" | "arch">> = {
  amd64: { vcpus: 64, memMiB: 256 * GiB, diskGiB: 2000 },
  arm64: { vcpus: 32, memMiB: 128 * GiB, diskGiB: 1000 },
};
// runs-on sizes people ask for, weighted towards small jobs (vCPUs, GiB, weight).
const menu: [number, number, number][] = [
  [1, 1, 3],
  [1, 2, 4],
  [2, 4, 6],
  [2, 8, 2],
  [4, 8, 4],
  [4, 16, 2],
  [8, 16, 2],
  [8, 32, 1],
  [16, 32, 1],
  [16, 64, 0.5],
  [32, 64, 0.2],
];
const menuTotal = menu.reduce((s, m) => s + m[2], 0);

function mixedWorkload(nHosts: number, fill: number, seed: number): Workload {
  const r = rng(seed);
  const hosts: WHost[] = [];
  for (let i = 0; i < nHosts; i++) {
    const arch: Arch = i % 10 < 7 ? "amd64" : "arm64";
    hosts.push({ id: `h${String(i).padStart(5, "0")}`, arch, ...hostShape[arch] });
  }
  const jobs: WJob[] = [];
  for (const arch of ["amd64", "arm64"] as Arch[]) {
    const n = hosts.filter((h) => h.arch === arch).length;
    const budget = fill * n * hostShape[arch].vcpus;
    for (let cpu = 0; cpu < budget;) {
      let x = r() * menuTotal;
      const [v, g] = menu.find((m) => (x -= m[2]) < 0) ?? menu[0]!;
      if (v > hostShape[arch].vcpus) continue;
      jobs.push({ id: `j${jobs.length}`, arch, vcpus: v, memMiB: g * GiB, diskGiB: [10, 20, 40][Math.floor(r() * 3)]!, org: `org${Math.floor(r() * 8)}` });
      cpu += v;
    }
  }
  // Interleave the arches as arrivals would.
  for (let i = jobs.length - 1; i > 0; i--) {
    const k = Math.floor(r() * (i + 1));
    [jobs[i], jobs[k]] = [jobs[k]!, jobs[i]!];
  }
  return { hosts, jobs };
}

// ---- lower bound and the FFD baseline ----
function lowerBound(w: Workload): number {
  let total = 0;
  for (const arch of ["amd64", "arm64"] as Arch[]) {
    const hs = w.hosts.filter((h) => h.arch === arch);
    const js = w.jobs.filter((j) => j.arch === arch);
    if (!hs.length || !js.length) continue;
    // The largest host of the arch: a valid bound even when host sizes differ.
    const cap = { vcpus: Math.max(...hs.map((h) => h.vcpus)), memMiB: Math.max(...hs.map((h) => h.memMiB)), diskGiB: Math.max(...hs.map((h) => h.diskGiB)) };
    total += Math.max(...(["vcpus", "memMiB", "diskGiB"] as const).map((k) => Math.ceil(js.reduce((s, j) => s + j[k], 0) / cap[k])));
  }
  return total;
}

/** First-fit decreasing by dominant share: the textbook baseline. */
function ffd(w: Workload): { hostsUsed: number; placed: number; ms: number } {
  const t = performance.now();
  const byArch = new Map<Arch, { free: number[][]; first: number }>();
  for (const h of w.hosts) {
    const a = byArch.get(h.arch) ?? { free: [], first: 0 };
    a.free.push([h.vcpus, h.memMiB, h.diskGiB]);
    byArch.set(h.arch, a);
  }
  const share = (j: WJob) => Math.max(j.vcpus / hostShape[j.arch].vcpus, j.memMiB / hostShape[j.arch].memMiB, j.diskGiB / hostShape[j.arch].diskGiB);
  const sorted = [...w.jobs].sort((a, b) => share(b) - share(a));
  const used = new Set<string>();
  let placed = 0;
  for (const j of sorted) {
    const a = byArch.get(j.arch);
    if (!a) continue;
    // Hosts at the front that are out of a resource are skipped for good.
    while (a.first < a.free.length && a.free[a.first]!.some((x) => x <= 0)) a.first++;
    for (let i = a.first; i < a.free.length; i++) {
      const f = a.free[i]!;
      if (j.vcpus <= f[0]! && j.memMiB <= f[1]! && j.diskGiB <= f[2]!) {
        f[0]! -= j.vcpus;
        f[1]! -= j.memMiB;
        f[2]! -= j.diskGiB;
        used.add(`${j.arch}/${i}`);
        placed++;
        break;
      }
    }
  }
  return { hostsUsed: used.size, placed, ms: performance.now() - t };
}

// ---- the scheduler's core on a workload ----
const hostEvent = (h: WHost): DomainEvent => ({
  type: "HostRegistered",
  data: {
    hostId: h.id,
    arch: h.arch,
    capacity: { vcpus: h.vcpus, memMiB: h.memMiB, diskGiB: h.diskGiB },
    labels: [],
    vmm: "qemu",
    accel: "kvm",
    emulated: false,
    images: ["minimal"],
    publicKey: "AAAA",
    version: "bench",
  },
});
const queued = (j: WJob): DomainEvent => ({
  type: "JobQueued",
  data: {
    jobId: j.id,
    source: { provider: "github", repo: "acme/x", org: j.org ?? "acme", providerJobId: j.id, labels: [] },
    spec: { arch: j.arch, vcpus: j.vcpus, memMiB: j.memMiB, diskGiB: j.diskGiB, image: "minimal", timeoutSec: 3600 },
  },
});
const NOW = "2026-01-01T00:00:00.000Z";

function applyAll(state: SchedulerState, events: Stored<DomainEvent>[]): SchedulerState {
  let s = state;
  for (const e of events) s = evolve(s, e);
  return s;
}

function packCase(name: string, w: Workload): { placements: { jobId: string; hostId: string }[] } {
  const history = historyOf([...w.hosts.map(hostEvent), ...w.jobs.map(queued)]);
  const state = applyAll(initialState(), history);
  const t = performance.now();
  const decisions = place(state, NOW);
  const ms = performance.now() - t;
  const placements = decisions.flatMap((d) => (d.event.type === "JobScheduled" ? [{ jobId: d.event.data.jobId, hostId: d.event.data.hostId }] : []));
  const hostsUsed = new Set(placements.map((p) => p.hostId)).size;
  const lb = lowerBound(w);
  const base = ffd(w);
  line({
    case: name,
    hosts: w.hosts.length,
    jobs: w.jobs.length,
    placed: placements.length,
    hostsUsed,
    lowerBound: lb,
    ratio: +(hostsUsed / lb).toFixed(4),
    placementsPerSec: Math.round((placements.length * 1000) / ms),
    ms: +ms.toFixed(1),
    ffdHostsUsed: base.hostsUsed,
    ffdPlaced: base.placed,
    ffdRatio: +(base.hostsUsed / lb).toFixed(4),
    ffdPlacementsPerSec: Math.round((base.placed * 1000) / base.ms),
    vsFfd: +(hostsUsed / base.hostsUsed).toFixed(4),
  });
  return { placements };
}

/** Steady state: ~70% full; each round one job arrives, one decision, one VM ends. */
function steadyCase(nHosts: number, rounds: number): void {
  const w = mixedWorkload(nHosts, 0.7, 7);
  let seq = 1;
  const store = (events: DomainEvent[]) => {
    const h = historyOf(events, seq, NOW);
    seq += h.length;
    return h;
  };
  let state = applyAll(initialState(), store([...w.hosts.map(hostEvent), ...w.jobs.map(queued)]));
  const live: Stored<DomainEvent>[] = [];
  const commit = (decisions: ReturnType<typeof place>) => {
    const h = store(decisions.map((d) => d.event));
    state = applyAll(state, h);
    for (const e of h) if (e.type === "JobScheduled") live.push(e);
  };
  commit(place(state, NOW));
  const r = rng(11);
  const times: number[] = [];
  let placed = 0;
  const extra = mixedWorkload(nHosts, 0.5, 13).jobs;
  for (let i = 0; i < rounds; i++) {
    const j = { ...extra[i % extra.length]!, id: `s${i}` };
    state = applyAll(state, store([queued(j)]));
    const t = performance.now();
    const decisions = place(state, NOW);
    times.push(performance.now() - t);
    placed += decisions.filter((d) => d.event.type === "JobScheduled").length;
    commit(decisions);
    // One VM ends per round: capacity frees at VmDestroyed.
    const k = Math.floor(r() * live.length);
    const gone = live[k]!;
    live[k] = live[live.length - 1]!;
    live.pop();
    if (gone.type === "JobScheduled") {
      const { hostId, vmId, jobId } = gone.data;
      // Its runner ran its job, which ended; then the VM is destroyed (docs/runner-model.md).
      state = applyAll(
        state,
        store([
          { type: "JobStarted", data: { jobId, runnerName: `oneshot-${hostId}-${vmId}`, hostId, vmId, reportedBy: "webhook" } },
          { type: "JobCompleted", data: { jobId, conclusion: "success", exitCode: null, reportedBy: "provider" } },
          { type: "VmDestroyed", data: { hostId, vmId, jobId, removed: [] } },
        ]),
      );
    }
  }
  times.sort((a, b) => a - b);
  const total = times.reduce((s, x) => s + x, 0);
  const pct = (p: number) => +times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(3);
  line({
    case: `steady-${nHosts}`,
    hosts: nHosts,
    decisions: rounds,
    placed,
    decisionsPerSec: Math.round((rounds * 1000) / total),
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
  });
}

// ---- run ----
let outPlacements: { jobId: string; hostId: string }[] | undefined;
if (values.workload) {
  const w = JSON.parse(readFileSync(values.workload, "utf8")) as Workload;
  outPlacements = packCase("workload", w).placements;
} else {
  for (const n of values.sizes.split(",").map(Number)) {
    const { placements } = packCase(`pack-${n}`, mixedWorkload(n, 0.8, n));
    if (n === 1000) outPlacements = placements;
  }
  for (const n of values.sizes.split(",").map(Number)) steadyCase(n, n >= 10000 ? 300 : 2000);
}
if (values.out && outPlacements) writeFileSync(values.out, JSON.stringify(outPlacements));
if (!values["no-e2e"] && !values.workload) await e2e(Number(values["e2e-jobs"]));
evolveRate();

// ---- replaying: the pure fold alone (the NATS side is in the e2e "replay" case) ----
function evolveRate(): void {
  const w = mixedWorkload(1000, 0.8, 3);
  const history = historyOf([...w.hosts.map(hostEvent), ...w.jobs.map(queued)]);
  const state = applyAll(initialState(), history);
  const decided = historyOf(
    place(state, NOW).map((d) => d.event),
    history.length + 1,
  );
  const all = [...history, ...decided];
  const t = performance.now();
  for (let i = 0; i < 5; i++) applyAll(initialState(), all);
  const ms = (performance.now() - t) / 5;
  line({ case: "fold", events: all.length, eventsPerSec: Math.round((all.length * 1000) / ms) });
}

// ---- end to end through a real nats-server and a scheduler process ----
async function e2e(burstJobs: number): Promise<void> {
  const { connectTest, freePort, startNats } = await import("@oneshot/testing");
  const { subjects } = await import("@oneshot/proto");
  const server = await startNats();
  const { store, close } = await connectTest(server.url, "bench");
  const procs: ReturnType<typeof spawn>[] = [];
  const startScheduler = async (logLevel: string) => {
    const port = await freePort();
    const p = spawn(process.execPath, ["services/scheduler/dist/main.js"], {
      env: { ...process.env, NATS_URL: server.url, SCHEDULER_HTTP_PORT: String(port), LOG_LEVEL: logLevel },
      stdio: ["ignore", "pipe", "inherit"],
    });
    procs.push(p);
    let out = "";
    p.stdout!.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-1_000_000)));
    for (let i = 0; ; i++) {
      if (p.exitCode !== null) throw new Error(`scheduler exited ${p.exitCode}`);
      if (
        await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return { p, output: () => out };
  };
  const pct = (xs: number[], p: number) => +[...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!.toFixed(2);

  // Baseline: an append, and the same message seen by a follower, with no scheduler between.
  const seen = new Map<string, () => void>();
  const stopSeen = await store.follow(
    subjects.allEvents,
    (e) => {
      const id = e.type === "JobStarted" ? `base-${e.data.jobId}` : e.type === "JobScheduled" ? e.data.jobId : undefined;
      if (id) seen.get(id)?.();
    },
    { startSeq: (await store.lastStreamSeq()) + 1 },
  );
  const roundTrip = async (id: string, send: () => Promise<unknown>) => {
    const t = performance.now();
    const arrived = new Promise<void>((r) => seen.set(id, r));
    await send();
    await arrived;
    seen.delete(id);
    return performance.now() - t;
  };
  const base: number[] = [];
  for (let i = 0; i < 200; i++)
    base.push(
      await roundTrip(`base-b${i}`, () => store.append({ type: "JobStarted", data: { jobId: `b${i}`, reportedBy: "webhook" } }, { correlationId: "bench" })),
    );

  // 20 hosts with room for every job (no waiting for capacity: this measures deciding).
  for (let i = 0; i < 20; i++) {
    const arch = i % 2 ? "arm64" : "amd64";
    await store.append(hostEvent({ id: `e2e-${i}`, arch, vcpus: 512, memMiB: 2048 * GiB, diskGiB: 100_000 }), { correlationId: "bench" });
  }
  await startScheduler("warn");
  const job = (id: string, i: number): WJob => ({
    id,
    arch: i % 3 ? "amd64" : "arm64",
    vcpus: 1 + (i % 4),
    memMiB: (1 + (i % 4)) * 2 * GiB,
    diskGiB: 10,
    org: `org${i % 5}`,
  });

  const one: number[] = [];
  for (let i = 0; i < 200; i++) one.push(await roundTrip(`q${i}`, () => store.append(queued(job(`q${i}`, i)), { correlationId: "bench" })));
  line({
    case: "e2e-one-at-a-time",
    jobs: one.length,
    p50Ms: pct(one, 0.5),
    p99Ms: pct(one, 0.99),
    baselineP50Ms: pct(base, 0.5),
    baselineP99Ms: pct(base, 0.99),
    ratioP50: +(pct(one, 0.5) / pct(base, 0.5)).toFixed(2),
  });

  // A burst: every job appended as fast as 32 concurrent writers go; latency per job.
  const lat: number[] = [];
  const t0 = performance.now();
  const ids = Array.from({ length: burstJobs }, (_, i) => `burst${i}`);
  const next = [...ids.entries()];
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      for (let it = next.shift(); it; it = next.shift()) {
        const [i, id] = it;
        lat.push(await roundTrip(id, () => store.append(queued(job(id, i)), { correlationId: "bench" })));
      }
    }),
  );
  const burstMs = performance.now() - t0;
  line({
    case: "e2e-burst",
    jobs: burstJobs,
    placementsPerSec: Math.round((burstJobs * 1000) / burstMs),
    p50Ms: pct(lat, 0.5),
    p99Ms: pct(lat, 0.99),
    baselineP50Ms: pct(base, 0.5),
  });
  await stopSeen();

  // Give the log the shape of real history before the replay: every placed VM boots, runs and
  // is destroyed (local jobs then get JobCompleted from the scheduler).
  const placedVms: { hostId: string; vmId: string; jobId: string }[] = [];
  await store.replay(
    subjects.allHosts,
    (e) => void (e.type === "JobScheduled" && placedVms.push({ hostId: e.data.hostId, vmId: e.data.vmId, jobId: e.data.jobId })),
  );
  const timings = { diskMs: 1, configMs: 1, netMs: 1, vmmStartMs: 1, agentReadyMs: 1, totalMs: 5 };
  const lifecycle = placedVms.map((r): DomainEvent[] => [
    { type: "VmBootRequested", data: { ...r, tap: null, disks: [] } },
    { type: "VmBooted", data: { ...r, vmm: "qemu", accel: "kvm", pid: 1, timings } },
    // Its runner takes the job it was booted for (docs/runner-model.md: a provider job is
    // bound to a VM only by JobStarted; without one the scheduler would rebind or requeue it).
    { type: "JobStarted", data: { jobId: r.jobId, runnerName: `oneshot-${r.hostId}-${r.vmId}`, hostId: r.hostId, vmId: r.vmId, reportedBy: "webhook" } },
    { type: "VmExited", data: { ...r, exitCode: 0, reason: "exited", runMs: 10 } },
    { type: "VmDestroyed", data: { ...r, removed: [] } },
  ]);
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      for (let vm = lifecycle.shift(); vm; vm = lifecycle.shift()) for (const e of vm) await store.append(e, { correlationId: "bench" });
    }),
  );

  // Replay at start: a fresh scheduler process reads the whole log and says how fast.
  for (const p of procs.splice(0)) p.kill("SIGTERM");
  const fresh = await startScheduler("info");
  const replayed = fresh
    .output()
    .split("\n")
    .map((l) => {
      try {
        return JSON.parse(l) as { msg?: string; events?: number; eventsPerSec?: number; ms?: number };
      } catch {
        return {};
      }
    })
    .find((l) => l.msg === "event log replayed");
  const bare = await store.replay(subjects.allEvents, () => undefined);
  line({
    case: "replay",
    events: replayed?.events,
    eventsPerSec: replayed?.eventsPerSec,
    ms: replayed?.ms,
    baselineReplayPerSec: bare.eventsPerSec,
    ratio: replayed?.eventsPerSec ? +(replayed.eventsPerSec / bare.eventsPerSec).toFixed(3) : null,
  });
  for (const p of procs.splice(0)) p.kill("SIGTERM");
  await close();
  await server.dispose();
}
