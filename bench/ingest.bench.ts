// `npm run bench -- ingest [--n 2000] [--concurrency 16]`
//
// Signed ~25 KB `workflow_job` webhooks through ingest's real HTTP server into a real
// nats-server (verify the HMAC, parse, append JobQueued expecting an empty job subject, read
// the job's history only if that append finds one, wait for the JetStream ack, answer 202), against a baseline measured in the same run: bare JetStream
// publishes of the same body bytes, awaiting each ack. One JSON line per case:
//   bare-publish     the baseline: publishes/s and publish→ack latency
//   github-webhook   webhooks/s, HTTP round-trip latency, and store latency (first history read
//                    or append → append acked), with the ratio of its rate to the baseline's
// Each case runs at the given concurrency and at 1 in flight (latency without queueing).
// The deliveries come from a worker thread (webhook-client.worker.mjs): GitHub's HTTP client is
// not ingest's work, and on one event loop it took a third of the time measured as ingest's.
import { createHmac } from "node:crypto";
import { type Server } from "node:http";
import { readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { Worker } from "node:worker_threads";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { Registry } from "prom-client";
import { EventStore, newEventId, parseConfig } from "@oneshot/runtime";
import { connectTest, startNats } from "@oneshot/testing";
import { IngestEnv } from "../services/ingest/src/config.js";
import { createIngestServer } from "../services/ingest/src/http/server.js";
import { ingestMetrics } from "../services/ingest/src/metrics.js";
import { fixture } from "../services/ingest/test/harness.js";

const { values } = parseArgs({
  options: { n: { type: "string", default: "2000" }, concurrency: { type: "string", default: "16" }, profile: { type: "string" } },
});
const n = Number(values.n);
const concurrency = Number(values.concurrency);
const secret = "bench-secret";

const server = await startNats();

/** A process's user + system CPU seconds so far (/proc/<pid>/stat), NaN when it cannot be read. */
function cpuSecondsOf(pid: number | undefined): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}
const { nats, store, close } = await connectTest(server.url, "bench");

/**
 * The event store as ingest uses it, timing each job's store work: from its first history
 * read or append (the fast path appends a new job's first event without reading) to the
 * append's ack.
 */
const storeMs: number[] = [];
const started = new Map<string, number>();
const timed = new Proxy(store, {
  get(target, prop, receiver) {
    if (prop === "readAggregate") {
      return (subject: string) => {
        if (!started.has(subject)) started.set(subject, performance.now());
        return target.readAggregate(subject);
      };
    }
    if (prop === "append") {
      return async (...args: Parameters<EventStore["append"]>) => {
        const t = performance.now();
        const r = await target.append(...args);
        storeMs.push(performance.now() - (started.get(r.subject) ?? t));
        started.delete(r.subject);
        return r;
      };
    }
    return Reflect.get(target, prop, receiver) as unknown;
  },
});

const config = parseConfig(IngestEnv, { GITHUB_WEBHOOK_SECRET: secret, INGEST_MAX_BODY_BYTES: String(1024 * 1024) });
const registry = new Registry();
const http: Server = createIngestServer({
  config,
  store: timed,
  registry,
  metrics: ingestMetrics(registry),
  log: pino({ level: "info" }, pino.destination("/dev/null")),
  newId: newEventId,
  healthy: () => true,
  gitlabTags: async () => ({ ok: false, reason: "bench" }),
});
await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${(http.address() as { port: number }).port}/webhooks/github`;

// 25 KB, the way real payloads grow: steps with long names, added until the body is that big.
const TARGET_BYTES = 25 * 1024;
const real = JSON.parse(fixture("workflow_job.queued.json")) as { workflow_job: Record<string, unknown> };
const steps: unknown[] = [];
let nextJob = 9_000_000;
const makeBody = () => JSON.stringify({ ...real, workflow_job: { ...real.workflow_job, id: ++nextJob, steps } });
while (Buffer.byteLength(makeBody()) < TARGET_BYTES) {
  steps.push({
    name: `step ${steps.length} ${"x".repeat(120)}`,
    status: "queued",
    conclusion: null,
    number: steps.length,
    started_at: null,
    completed_at: null,
  });
}
const sign = (b: string) => `sha256=${createHmac("sha256", secret).update(b).digest("hex")}`;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!.toFixed(2);
};

/** Runs `count` operations, `inFlight` at a time; returns the rate and per-operation latencies. */
async function pool(count: number, inFlight: number, op: (i: number) => Promise<void>): Promise<{ perSec: number; lat: number[] }> {
  const lat: number[] = [];
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) {
        const i = next++;
        const t0 = performance.now();
        await op(i);
        lat.push(performance.now() - t0);
      }
    }),
  );
  return { perSec: Math.round((count * 1000) / (performance.now() - t)), lat };
}

const bare = (bodies: Buffer[], prefix: string) => (i: number) => nats.js.publish(`evt.job.${prefix}-${i}`, bodies[i]!).then(() => undefined);

/**
 * The deliveries, sent by GitHub's stand-in on its own thread (webhook-client.worker.mjs), `inFlight`
 * at a time. `onGo` runs once the worker is set up, right before it starts sending (clocks start there).
 */
function webhooks(bodies: string[], sigs: string[], inFlight: number, onGo: () => void = () => undefined): Promise<{ perSec: number; lat: number[] }> {
  const requests = bodies.map((body, i) => ({ body, signature: sigs[i]!, delivery: newEventId() }));
  const worker = new Worker(new URL("./webhook-client.worker.mjs", import.meta.url), { workerData: { url, concurrency: inFlight, requests } });
  return new Promise((resolve, reject) => {
    worker.on("message", (m: { ready: true } | { perSec: number; lat: number[] } | { error: string }) => {
      if ("ready" in m) {
        onGo();
        worker.postMessage("go");
        return;
      }
      void worker.terminate();
      if ("error" in m) reject(new Error(m.error));
      else resolve(m);
    });
    worker.once("error", reject);
  });
}

async function round(count: number, inFlight: number, label: string) {
  const bodies = Array.from({ length: count }, makeBody);
  const sigs = bodies.map(sign); // signed up front: GitHub's cost, not ingest's
  const base = await pool(
    count,
    inFlight,
    bare(
      bodies.map((b) => Buffer.from(b)),
      `base-${label}`,
    ),
  );
  storeMs.length = 0;
  const profiler = values.profile ? new Session() : undefined;
  if (profiler) {
    profiler.connect();
    await profiler.post("Profiler.enable");
  }
  let cpu = process.cpuUsage();
  let elu = performance.eventLoopUtilization();
  let natsCpu = NaN;
  const hooks = await webhooks(bodies, sigs, inFlight, () => {
    if (profiler) void profiler.post("Profiler.start");
    cpu = process.cpuUsage();
    elu = performance.eventLoopUtilization();
    natsCpu = cpuSecondsOf(server.pid);
  });
  const used = process.cpuUsage(cpu);
  const loop = performance.eventLoopUtilization(elu);
  const natsUsed = cpuSecondsOf(server.pid) - natsCpu;
  if (profiler) {
    const { profile } = await profiler.post("Profiler.stop");
    writeFileSync(`${values.profile}/ingest-${label}.cpuprofile`, JSON.stringify(profile));
    profiler.disconnect();
  }
  const bodyBytes = Buffer.byteLength(bodies[0]!);
  console.log(
    JSON.stringify({
      case: "bare-publish",
      n: count,
      concurrency: inFlight,
      bodyBytes,
      publishesPerSec: base.perSec,
      p50Ms: pct(base.lat, 50),
      p99Ms: pct(base.lat, 99),
    }),
  );
  console.log(
    JSON.stringify({
      case: "github-webhook",
      n: count,
      concurrency: inFlight,
      bodyBytes,
      webhooksPerSec: hooks.perSec,
      p50Ms: pct(hooks.lat, 50),
      p99Ms: pct(hooks.lat, 99),
      storeP50Ms: pct(storeMs, 50),
      storeP99Ms: pct(storeMs, 99),
      ratioToBarePublish: +(hooks.perSec / base.perSec).toFixed(3),
      // Per delivery: ingest's event loop busy (its own work: HTTP, HMAC, parse, decide, publish),
      // this process's CPU (that, GC and the client's thread), and nats-server's CPU.
      ingestLoopUsPerDelivery: Math.round((loop.active * 1000) / count),
      ingestLoopUtilization: +loop.utilization.toFixed(2),
      processCpuUsPerDelivery: Math.round((used.user + used.system) / count),
      natsCpuUsPerDelivery: Number.isFinite(natsUsed) ? Math.round((natsUsed * 1e6) / count) : undefined,
    }),
  );
}

// Warm up both paths (JIT, connections, the stream's first blocks), not reported.
{
  const bodies = Array.from({ length: 100 }, makeBody);
  await pool(
    100,
    concurrency,
    bare(
      bodies.map((b) => Buffer.from(b)),
      "warm",
    ),
  );
  await webhooks(bodies, bodies.map(sign), concurrency);
}
await round(n, concurrency, "c");
await round(Math.max(50, Math.round(n / 4)), 1, "1");

http.closeAllConnections();
http.close();
await close();
await server.dispose();
