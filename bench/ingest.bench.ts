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
import { createHmac } from "node:crypto";
import { Agent, request, type Server } from "node:http";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { Registry } from "prom-client";
import { EventStore, newEventId, parseConfig } from "@oneshot/runtime";
import { connectTest, startNats } from "@oneshot/testing";
import { IngestEnv } from "../services/ingest/src/config.js";
import { createIngestServer } from "../services/ingest/src/http/server.js";
import { ingestMetrics } from "../services/ingest/src/metrics.js";
import { fixture } from "../services/ingest/test/harness.js";

const { values } = parseArgs({ options: { n: { type: "string", default: "2000" }, concurrency: { type: "string", default: "16" } } });
const n = Number(values.n);
const concurrency = Number(values.concurrency);
const secret = "bench-secret";

const server = await startNats();
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
// node:http with keep-alive, the lightest client: it shares this machine's CPU with the server.
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
const webhook = (bodies: string[], sigs: string[]) => (i: number) =>
  new Promise<void>((resolve, reject) => {
    const body = Buffer.from(bodies[i]!);
    const req = request(
      url,
      {
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": String(body.length),
          "x-github-event": "workflow_job",
          "x-github-delivery": newEventId(),
          "x-hub-signature-256": sigs[i]!,
        },
      },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => (res.statusCode === 202 ? resolve() : reject(new Error(`ingest answered ${res.statusCode}: ${text}`))));
      },
    );
    req.on("error", reject);
    req.end(body);
  });

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
  const hooks = await pool(count, inFlight, webhook(bodies, sigs));
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
  await pool(100, concurrency, webhook(bodies, bodies.map(sign)));
}
await round(n, concurrency, "c");
await round(Math.max(50, Math.round(n / 4)), 1, "1");

agent.destroy();
http.closeAllConnections();
http.close();
await close();
await server.dispose();
