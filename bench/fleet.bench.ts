// `npm run bench -- fleet [--hosts 1000] [--burst 10000] [--rate 200] [--steady-sec 30]
//   [--concurrency 64] [--nats single|cluster]` (after `npm run build`; under the heavy lock).
//
// The whole placement path at fleet scale, on this machine: a real nats-server (or a 3-node
// cluster, streams at R3), the built scheduler as a process, and N simulated hosts in this
// process (services/hostd/src/sim: hostd's real HostAgent, each host with its own durable
// `hostd-<h>` provisioned as `oneshot admin init` does). One JSON line per case:
//  burst:  `--burst` JobQueued appended as ingest appends them, `--concurrency` in flight:
//          placements/s end to end (first append → last JobScheduled handed to its host),
//          JobQueued stored → the host's consumer hands hostd the JobScheduled, p50/p99, and
//          the scheduler's CPU per placement (/proc/<pid>/stat).
//  steady: `--rate` jobs/s for `--steady-sec`: the same latency figures.
// Baselines, measured in the same run on the same server(s): bare JetStream acknowledged
// publishes of a JobQueued-sized message at the same concurrency (burst) or rate (steady),
// their ack latency, and nats-server's CPU per publish. With `--nats cluster` every case runs
// again with one node (not the EVENTS leader) killed.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { streams, type DomainEvent } from "@oneshot/proto";
import { ConcurrencyError, EventStore, StoreUnavailableError, connectNats, createLogger } from "@oneshot/runtime";
import { provisionAll } from "../packages/cli/src/admin/provision.js";
import { startChaosNats, type ChaosNats } from "../packages/testing/src/chaos/chaos-nats.js";
import { ServiceProcess, cpuSecondsOf, until } from "../packages/testing/src/chaos/procs.js";
import { freePort } from "../packages/testing/src/nats-server.js";
import { simHostId, startFleet, uniform } from "../services/hostd/src/sim/fleet.js";

const { values: a } = parseArgs({
  options: {
    hosts: { type: "string", default: "1000" },
    burst: { type: "string", default: "10000" },
    rate: { type: "string", default: "200" },
    "steady-sec": { type: "string", default: "30" },
    concurrency: { type: "string", default: "64" },
    nats: { type: "string", default: "single" },
    "run-ms": { type: "string", default: "200-600" },
    "boot-ms": { type: "string", default: "20-80" },
  },
});
const N = { hosts: Number(a.hosts), burst: Number(a.burst), rate: Number(a.rate), steadySec: Number(a["steady-sec"]), conc: Number(a.concurrency) };
const range = (s: string): [number, number] => {
  const [lo, hi] = s.split("-").map(Number);
  return [lo!, hi ?? lo!];
};
const line = (o: Record<string, unknown>) => console.log(JSON.stringify(o));
const note = (s: string) => process.stderr.write(`${s}\n`);
const pct = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const r2 = (x: number) => Math.round(x * 100) / 100;
const root = fileURLToPath(new URL("..", import.meta.url));
const log = createLogger("bench-fleet", { level: process.env.LOG_LEVEL ?? "silent" });

const cluster = a.nats === "cluster";
const nats: ChaosNats = await startChaosNats(cluster ? 3 : 1);
const admin = await connectNats({ url: nats.url, name: "bench-admin" }, log);
const hostIds = Array.from({ length: N.hosts }, (_, i) => simHostId("bench", i));
let t = performance.now();
await provisionAll(admin, hostIds, log, cluster ? { replicas: 3 } : {});
await admin.jsm.streams.add({
  name: "FLEETBENCH",
  subjects: ["fleetbench.>"],
  retention: RetentionPolicy.Limits,
  storage: StorageType.File,
  num_replicas: cluster ? 3 : 1,
  duplicate_window: 120 * 1e9,
});
note(`provisioned streams and ${N.hosts} host consumers in ${Math.round(performance.now() - t)} ms`);

// The fleet: the moment each host's consumer hands hostd a JobScheduled.
const placedAt = new Map<string, number>();
const dir = mkdtempSync(join(tmpdir(), "oneshot-bench-fleet-"));
t = performance.now();
const fleet = await startFleet({
  natsUrl: nats.url,
  hosts: N.hosts,
  connections: 4,
  prefix: "bench",
  dir,
  capacity: { vcpus: 4, memMiB: 8192, diskGiB: 100 },
  maxConcurrent: 4,
  guest: { bootMs: uniform(...range(a["boot-ms"]!)), runMs: uniform(...range(a["run-ms"]!)), exitCode: () => 0 },
  inventorySec: 60,
  log,
  onEvent: (_h, e) => {
    if (e.type === "JobScheduled" && !placedAt.has(e.data.jobId)) placedAt.set(e.data.jobId, performance.now());
  },
});
note(`${N.hosts} simulated hosts registered and consuming in ${Math.round(performance.now() - t)} ms`);
const scheduler = new ServiceProcess(
  "scheduler",
  join(root, "services/scheduler/dist/main.js"),
  [],
  { NATS_URL: nats.url, LOG_LEVEL: "warn", SCHEDULER_HTTP_PORT: String(await freePort()), ONESHOT_STATE_DIR: join(dir, "scheduler") },
  undefined,
);
scheduler.start();
// The scheduler has no ops port here: it is up once it places (the warm-up job below).
const store = new EventStore(admin.js, admin.jsm);
const jobQueued = (jobId: string): DomainEvent => ({
  type: "JobQueued",
  data: {
    jobId,
    source: { provider: "local", repo: "local", org: "local", providerJobId: jobId, labels: [] },
    script: "true",
    spec: { arch: "amd64", vcpus: 1, memMiB: 512, diskGiB: 1, image: "minimal", timeoutSec: 600 },
  },
});
const newJob = () => `loc-${randomBytes(8).toString("hex")}`;
// An append that times out is tried again with the same msgId, as ingest's client (GitHub, on a
// 503) redelivers: stored once either way. The tries are counted and reported per case.
let appendRetries = 0;
const queue = async (jobId: string): Promise<number> => {
  for (let attempt = 1; ; attempt++) {
    try {
      await store.append(jobQueued(jobId), { msgId: `loc:${jobId}`, expectedLastSubjectSeq: 0, correlationId: `bench-${jobId}` });
      return performance.now();
    } catch (e) {
      // A conflict on a retry: the try that timed out was stored after all.
      if (attempt > 1 && e instanceof ConcurrencyError) return performance.now();
      if (!(e instanceof StoreUnavailableError) || attempt >= 10) throw e;
      appendRetries++;
    }
  }
};
const warm = newJob();
await queue(warm);
await until("the scheduler places a first job", () => placedAt.has(warm), 120_000, 20);
const natsPids = () => nats.nodes.map((n) => n.pid).filter((p): p is number => p !== undefined);
const natsCpu = () => natsPids().reduce((s, p) => s + cpuSecondsOf(p), 0);
const drained = () =>
  until(
    "the fleet drains",
    () => {
      const s = fleet.stats();
      return s.vmsRunning === 0 && s.queued === 0;
    },
    300_000,
    200,
  );
const sample = JSON.stringify(jobQueued(newJob()));

/** Runs `n` tasks with at most `conc` in flight, or paced at `rate`/s when given. */
async function drive(n: number, task: (i: number) => Promise<void>, o: { conc: number; rate?: number }): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    if (o.rate) {
      const due = t0 + (i * 1000) / o.rate;
      if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
    }
    const p = task(i).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= o.conc) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

async function baseline(n: number, o: { conc: number; rate?: number }) {
  const acks: number[] = [];
  const cpu0 = natsCpu();
  const t0 = performance.now();
  await drive(
    n,
    async () => {
      const s = performance.now();
      const id = newJob();
      await admin.js.publish(`fleetbench.${id}`, sample.replaceAll(/loc-[0-9a-f]{16}/g, id), { msgID: id });
      acks.push(performance.now() - s);
    },
    o,
  );
  const secs = (performance.now() - t0) / 1000;
  return { perSec: n / secs, p50: pct(acks, 50), p99: pct(acks, 99), natsCpuMsPerPublish: ((natsCpu() - cpu0) * 1000) / n };
}

async function placements(n: number, o: { conc: number; rate?: number }) {
  const queuedAt = new Map<string, number>();
  const ids = Array.from({ length: n }, newJob);
  const cpu0 = scheduler.cpuSeconds();
  const retries0 = appendRetries;
  const t0 = performance.now();
  await drive(n, async (i) => void queuedAt.set(ids[i]!, await queue(ids[i]!)), o);
  await until(`${n} placements`, () => ids.every((j) => placedAt.has(j)), 600_000, 50);
  const last = Math.max(...ids.map((j) => placedAt.get(j)!));
  const lat = ids.map((j) => placedAt.get(j)! - queuedAt.get(j)!);
  return {
    perSec: n / ((last - t0) / 1000),
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    schedulerCpuMsPerPlacement: ((scheduler.cpuSeconds() - cpu0) * 1000) / n,
    appendRetries: appendRetries - retries0,
  };
}

async function cases(tag: string) {
  await drained();
  const bb = await baseline(N.burst, { conc: N.conc });
  const b = await placements(N.burst, { conc: N.conc });
  line({
    case: `burst${tag}`,
    hosts: N.hosts,
    jobs: N.burst,
    concurrency: N.conc,
    nats: cluster ? "cluster" : "single",
    placementsPerSec: Math.round(b.perSec),
    baselinePublishesPerSec: Math.round(bb.perSec),
    ratio: r2(b.perSec / bb.perSec),
    p50Ms: r2(b.p50),
    p99Ms: r2(b.p99),
    baselineAckP50Ms: r2(bb.p50),
    baselineAckP99Ms: r2(bb.p99),
    p99Ratio: r2(b.p99 / bb.p99),
    appendRetries: b.appendRetries,
    schedulerCpuMsPerPlacement: r2(b.schedulerCpuMsPerPlacement),
    natsCpuMsPerBaselinePublish: r2(bb.natsCpuMsPerPublish),
    cpuRatio: r2(b.schedulerCpuMsPerPlacement / bb.natsCpuMsPerPublish),
  });
  await drained();
  const n = Math.round(N.rate * N.steadySec);
  const sb = await baseline(n, { conc: N.conc, rate: N.rate });
  const s = await placements(n, { conc: N.conc, rate: N.rate });
  line({
    case: `steady${tag}`,
    hosts: N.hosts,
    jobs: n,
    ratePerSec: N.rate,
    nats: cluster ? "cluster" : "single",
    placementsPerSec: Math.round(s.perSec),
    p50Ms: r2(s.p50),
    p99Ms: r2(s.p99),
    baselineAckP50Ms: r2(sb.p50),
    baselineAckP99Ms: r2(sb.p99),
    p99Ratio: r2(s.p99 / sb.p99),
    appendRetries: s.appendRetries,
    schedulerCpuMsPerPlacement: r2(s.schedulerCpuMsPerPlacement),
    natsCpuMsPerBaselinePublish: r2(sb.natsCpuMsPerPublish),
    cpuRatio: r2(s.schedulerCpuMsPerPlacement / sb.natsCpuMsPerPublish),
  });
}

try {
  await cases("");
  if (cluster) {
    const leader = (await admin.jsm.streams.info(streams.events.name)).cluster?.leader;
    const victim = nats.nodes.find((x) => x.name !== leader)!;
    await victim.kill9();
    note(`killed NATS node ${victim.name} (EVENTS leader is ${leader})`);
    await cases("-one-node-down");
  }
} finally {
  await scheduler.stop();
  await fleet.stop();
  await admin.nc.close();
  await nats.dispose();
  rmSync(dir, { recursive: true, force: true });
}
