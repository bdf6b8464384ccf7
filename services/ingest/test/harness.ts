// Shared by ingest's integration tests and its bench: a real nats-server, ingest's real HTTP
// server in this process, signing with the reference test vector, and fixture builders.
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { Registry } from "prom-client";
import { subjects, type DomainEvent } from "@oneshot/proto";
import { ensureKv, newEventId, parseConfig, redactPaths, type EventStore, type Logger, type Nats } from "@oneshot/runtime";
import { connectTest, startNats, type TestNats } from "@oneshot/testing";
import { IngestEnv } from "../src/config.js";
import type { GitlabTags } from "../src/providers/gitlab/payload.js";
import type { GitlabProviderDeps } from "../src/providers/gitlab/provider.js";
import { FOREIGN_BUCKET, FOREIGN_TTL_MS, kvForeignJobs, type ForeignJob } from "../src/foreign-jobs.js";
import { createIngestServer } from "../src/http/server.js";
import { webhookProviders } from "../src/providers/registry.js";
import { ingestMetrics, type IngestMetrics } from "../src/metrics.js";

/** The secret of GitHub's documented test vector (reference/github-gitlab.md). */
export const SECRET = "It's a Secret to Everybody";
export const PREVIOUS_SECRET = "the-secret-before-rotation";
export const GITLAB_TOKEN = "gitlab-hook-token";
export const API_TOKEN = "oneshot-api-token";

export const sign = (body: string | Buffer, secret = SECRET) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

export const fixturePath = (name: string) => join(import.meta.dirname, "fixtures", name);
export const fixture = (name: string) => readFileSync(fixturePath(name), "utf8");

/** A real-shaped `workflow_job` delivery body (test/fixtures) for one job, with fields patched. */
export function workflowJob(
  action: "queued" | "waiting" | "in_progress" | "completed",
  id: number,
  job: Record<string, unknown> = {},
  top: Record<string, unknown> = {},
): string {
  const p = JSON.parse(fixture(`workflow_job.${action}.json`)) as { workflow_job: Record<string, unknown> };
  return JSON.stringify({ ...p, ...top, workflow_job: { ...p.workflow_job, id, ...job } });
}

/** A real-shaped GitLab Job Hook body. */
export function jobHook(status: string, buildId: number, patch: Record<string, unknown> = {}): string {
  return JSON.stringify({ ...(JSON.parse(fixture("gitlab.job.pending.json")) as object), build_id: buildId, build_status: status, ...patch });
}

/** A logger whose every line is kept, to prove what never reaches a log. */
export function capturingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _e, cb) => void (lines.push(chunk.toString()), cb()) });
  return { log: pino({ level: "trace", base: { service: "ingest" }, redact: { paths: redactPaths, censor: "[redacted]" } }, sink), lines };
}

export interface IngestUnderTest {
  nats: Nats;
  store: EventStore;
  natsServer: TestNats;
  base: string;
  metrics: IngestMetrics;
  registry: Registry;
  logLines: string[];
  /** Every event stored on a job's subject, in order. */
  history(jobId: string): Promise<DomainEvent["type"][]>;
  events(jobId: string): Promise<Awaited<ReturnType<EventStore["readAggregate"]>>["events"]>;
  /** The short-lived record of a job that is not ours (KV bucket ingest-foreign), if any. */
  foreign(jobId: string): Promise<ForeignJob | undefined>;
  /** The EVENTS stream's last sequence: unchanged means nothing was stored. */
  lastSeq(): Promise<number>;
  close(): Promise<void>;
}

/** A real nats-server and ingest's real HTTP server on free loopback ports. */
export async function startIngest(
  o: {
    env?: Record<string, string>;
    gitlabTags?: (projectId: number, jobId: number) => Promise<GitlabTags>;
    gitlabRunners?: GitlabProviderDeps["runners"];
    natsServer?: TestNats;
  } = {},
): Promise<IngestUnderTest> {
  const natsServer = o.natsServer ?? (await startNats());
  const { nats, store, close } = await connectTest(natsServer.url, "ingest-test");
  const config = parseConfig(IngestEnv, {
    GITHUB_WEBHOOK_SECRET: SECRET,
    GITHUB_WEBHOOK_SECRET_PREVIOUS: PREVIOUS_SECRET,
    GITLAB_WEBHOOK_TOKEN: GITLAB_TOKEN,
    ONESHOT_API_TOKEN: API_TOKEN,
    INGEST_MAX_BODY_BYTES: String(64 * 1024),
    ...o.env,
  });
  const registry = new Registry();
  const metrics = ingestMetrics(registry);
  const { log, lines } = capturingLogger();
  const foreignKv = await ensureKv(nats, FOREIGN_BUCKET, { ttlMs: FOREIGN_TTL_MS });
  const http: Server = createIngestServer({
    config,
    store,
    registry,
    metrics,
    log,
    newId: newEventId,
    healthy: () => !nats.nc.isClosed(),
    foreign: kvForeignJobs(foreignKv, log),
    providers: webhookProviders(config, o.gitlabTags, o.gitlabRunners),
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const events = async (jobId: string) => (await store.readAggregate(subjects.job(jobId))).events;
  return {
    nats,
    store,
    natsServer,
    metrics,
    registry,
    logLines: lines,
    base: `http://127.0.0.1:${(http.address() as { port: number }).port}`,
    events,
    history: async (jobId) => (await events(jobId)).map((e) => e.type),
    lastSeq: () => store.lastStreamSeq(),
    foreign: async (jobId) => (await foreignKv.get(jobId))?.json<ForeignJob>(),
    close: async () => {
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
      await close();
      if (!o.natsServer) await natsServer.dispose();
    },
  };
}

let deliveries = 0;
/** A fresh GitHub delivery id (a GUID in real life). */
export const deliveryId = () => `72d3162e-cc78-11e3-81ab-${String(++deliveries).padStart(12, "0")}`;

export function postGithub(base: string, body: string, o: { event?: string; delivery?: string; signature?: string | null; contentType?: string } = {}) {
  return fetch(`${base}/webhooks/github`, {
    method: "POST",
    headers: {
      "content-type": o.contentType ?? "application/json",
      "x-github-event": o.event ?? "workflow_job",
      "x-github-delivery": o.delivery ?? deliveryId(),
      "x-github-hook-id": "292430182",
      ...(o.signature === null ? {} : { "x-hub-signature-256": o.signature ?? sign(body) }),
    },
    body,
  });
}

export function postGitlab(base: string, body: string, o: { token?: string; event?: string; key?: string | null } = {}) {
  return fetch(`${base}/webhooks/gitlab`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-gitlab-event": o.event ?? "Job Hook",
      "x-gitlab-token": o.token ?? GITLAB_TOKEN,
      ...(o.key === null ? {} : { "idempotency-key": o.key ?? newEventId() }),
    },
    body,
  });
}
