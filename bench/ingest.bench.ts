// `npm run bench -- ingest [--n 2000] [--concurrency 16]`: signed ~25 KB workflow_job webhooks
// through ingest's real HTTP server into a real nats-server (verify + parse + read the job's
// history + append), against a baseline of bare JetStream publishes of the same bytes, same run.
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { parseArgs } from "node:util";
import { Registry } from "prom-client";
import { createLogger, parseConfig } from "@oneshot/runtime";
import { connectTest, startNats } from "@oneshot/testing";
import { IngestEnv } from "../services/ingest/src/config.js";
import { createIngestServer } from "../services/ingest/src/http/server.js";
import { ingestMetrics } from "../services/ingest/src/metrics.js";

const { values } = parseArgs({ options: { n: { type: "string", default: "2000" }, concurrency: { type: "string", default: "16" } } });
const n = Number(values.n);
const conc = Number(values.concurrency);
const secret = "bench-secret";
const server = await startNats();
const { nats, store, close } = await connectTest(server.url, "bench");
const config = parseConfig(IngestEnv, { GITHUB_WEBHOOK_SECRET: secret, INGEST_MAX_BODY_BYTES: String(1024 * 1024) });
const registry = new Registry();
const http: Server = createIngestServer({
  config, store, registry, metrics: ingestMetrics(registry), log: createLogger("bench", { level: "silent" }), healthy: () => true, gitlabTags: async () => ({ ok: false as const, reason: "not used by this bench" }),
});
await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${(http.address() as { port: number }).port}/webhooks/github`;
const fixture = JSON.parse(readFileSync("services/ingest/test/fixtures/workflow_job.queued.json", "utf8")) as { workflow_job: Record<string, unknown> };
// Pad to ~25 KB the way real payloads grow (steps, long names).
const padding = Array.from({ length: 120 }, (_, i) => ({ name: `step ${i} ${"x".repeat(150)}`, status: "queued", number: i }));
const body = (i: number) => JSON.stringify({ ...fixture, workflow_job: { ...fixture.workflow_job, id: 9_000_000 + i, steps: padding } });
const bodies = Array.from({ length: n }, (_, i) => body(i));
const sig = (b: string) => `sha256=${createHmac("sha256", secret).update(b).digest("hex")}`;
const pct = (xs: number[], p: number) => xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function pool(count: number, work: (i: number) => Promise<number>): Promise<{ ms: number; lat: number[] }> {
  const lat: number[] = [];
  let next = 0;
  const t = performance.now();
  await Promise.all(Array.from({ length: conc }, async () => {
    while (next < count) lat.push(await work(next++));
  }));
  return { ms: performance.now() - t, lat };
}

const base = await pool(n, async (i) => {
  const t = performance.now();
  await nats.js.publish(`evt.job.base-${i}`, Buffer.from(bodies[i]!));
  return performance.now() - t;
});
const hooks = await pool(n, async (i) => {
  const t = performance.now();
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json", "x-github-event": "workflow_job", "x-github-delivery": `b-${i}`, "x-hub-signature-256": sig(bodies[i]!) }, body: bodies[i] });
  if (r.status !== 202) throw new Error(`status ${r.status}`);
  await r.arrayBuffer();
  return performance.now() - t;
});
const rate = (x: { ms: number }) => Math.round((n * 1000) / x.ms);
console.log(JSON.stringify({
  case: "github-webhooks", n, bodyBytes: bodies[0]!.length, concurrency: conc,
  webhooksPerSec: rate(hooks), p50Ms: +pct(hooks.lat, 50).toFixed(2), p99Ms: +pct(hooks.lat, 99).toFixed(2),
  baselinePublishPerSec: rate(base), baselineP50Ms: +pct(base.lat, 50).toFixed(2), baselineP99Ms: +pct(base.lat, 99).toFixed(2),
  ratio: +(rate(hooks) / rate(base)).toFixed(3),
}));
http.close();
await close();
await server.dispose();
