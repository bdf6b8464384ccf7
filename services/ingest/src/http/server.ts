import { randomUUID, timingSafeEqual, createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Webhooks } from "@octokit/webhooks";
import type { EventStore, Logger } from "@oneshot/runtime";
import { newEventId } from "@oneshot/runtime";
import type { Registry } from "prom-client";
import type { IngestConfig } from "../config.js";
import { decideGithub, githubJobId, type JobDefaults, type WorkflowJobPayload } from "../core/github-decide.js";
import { decideGitlab, gitlabJobId, type GitlabJobPayload } from "../core/gitlab-decide.js";
import { LocalJobRequest, localJob } from "../core/local-job.js";
import { decideAndStore } from "../job-store.js";
import type { IngestMetrics } from "../metrics.js";
import { BodyTooLarge, readBody } from "./body.js";

export interface IngestDeps {
  config: IngestConfig;
  store: EventStore;
  log: Logger;
  metrics: IngestMetrics;
  registry: Registry;
  /** GitLab job tags (`GET /projects/:id/jobs/:job_id` → tag_list); undefined when unavailable. */
  gitlabTags: (projectId: number, jobId: number) => Promise<string[] | undefined>;
  healthy: () => boolean;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Equal-length constant-time comparison (hashing first hides the length too). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

export function createIngestServer(d: IngestDeps): Server {
  const c = d.config;
  const defaults: JobDefaults = {
    vcpus: c.INGEST_DEFAULT_VCPUS, memGiB: c.INGEST_DEFAULT_MEM_GIB, arch: c.INGEST_DEFAULT_ARCH, maxVcpus: c.INGEST_MAX_VCPUS,
    maxMemGiB: c.INGEST_MAX_MEM_GIB, diskGiB: c.INGEST_DEFAULT_DISK_GIB, timeoutSec: c.INGEST_JOB_TIMEOUT_SEC, image: c.INGEST_IMAGE,
  };
  const secrets = [c.GITHUB_WEBHOOK_SECRET, c.GITHUB_WEBHOOK_SECRET_PREVIOUS].filter((s): s is string => Boolean(s)).map((secret) => new Webhooks({ secret }));

  /** Stores within the deadline, or 503: GitHub gives up after 10 s. */
  const withDeadline = async <T>(route: string, work: () => Promise<T>): Promise<T> => {
    const end = d.metrics.storeSeconds.startTimer({ route });
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        work(),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new HttpError(503, "event store unavailable; retry later")), c.INGEST_STORE_TIMEOUT_MS))),
      ]);
    } catch (e) {
      if (e instanceof HttpError) throw e;
      d.log.warn({ err: e, route }, "store failed");
      throw new HttpError(503, "event store unavailable; retry later");
    } finally {
      clearTimeout(timer);
      end();
    }
  };

  const parseJson = (body: Buffer, req: IncomingMessage): unknown => {
    const type = req.headers["content-type"] ?? "";
    if (!/json/i.test(type)) throw new HttpError(415, "content-type must be application/json");
    try {
      return JSON.parse(body.toString("utf8"));
    } catch {
      throw new HttpError(400, "body is not valid JSON");
    }
  };

  const github = async (req: IncomingMessage, body: Buffer) => {
    if (!secrets.length) throw new HttpError(503, "GitHub webhooks are not configured (GITHUB_WEBHOOK_SECRET)");
    const event = req.headers["x-github-event"];
    const delivery = req.headers["x-github-delivery"];
    const signature = req.headers["x-hub-signature-256"];
    if (typeof event !== "string" || typeof delivery !== "string") throw new HttpError(400, "missing X-GitHub-Event or X-GitHub-Delivery");
    if (typeof signature !== "string") {
      d.metrics.verifyFailures.inc({ provider: "github" });
      throw new HttpError(401, "missing X-Hub-Signature-256");
    }
    const raw = body.toString("utf8");
    let ok = false;
    for (const w of secrets) ok ||= await w.verify(raw, signature).catch(() => false);
    if (!ok) {
      d.metrics.verifyFailures.inc({ provider: "github" });
      throw new HttpError(401, "signature does not match");
    }
    const payload = parseJson(body, req) as WorkflowJobPayload;
    if (event === "ping") return { status: 200, body: { ok: true, note: "pong" } };
    if (event !== "workflow_job") return { status: 202, body: { ok: true, note: `event ${event} ignored` } };
    if (!payload?.workflow_job || typeof payload.workflow_job.id !== "number" || !Array.isArray(payload.workflow_job.labels) || !payload.repository?.full_name) {
      throw new HttpError(400, "workflow_job payload lacks workflow_job.id, labels or repository");
    }
    const jobId = githubJobId(payload);
    const out = await withDeadline("github", () =>
      decideAndStore(d.store, jobId, (h) => decideGithub(payload, h, defaults), { msgId: `gh:${delivery}`, correlationId: delivery, timeoutMs: c.INGEST_STORE_TIMEOUT_MS }),
    );
    d.log.info({ jobId, delivery, action: payload.action, note: out.note, seq: out.seq }, "github delivery");
    return { status: 202, body: { ok: true, jobId, ...out } };
  };

  const gitlab = async (req: IncomingMessage, body: Buffer) => {
    if (!c.GITLAB_WEBHOOK_TOKEN) throw new HttpError(503, "GitLab hooks are not configured (GITLAB_WEBHOOK_TOKEN)");
    const token = req.headers["x-gitlab-token"];
    if (typeof token !== "string" || !safeEqual(token, c.GITLAB_WEBHOOK_TOKEN)) {
      d.metrics.verifyFailures.inc({ provider: "gitlab" });
      throw new HttpError(401, "X-Gitlab-Token does not match");
    }
    const event = req.headers["x-gitlab-event"];
    // A 4xx can disable a GitLab hook for good: anything authentic but not for us gets 202.
    if (event !== "Job Hook") return { status: 202, body: { ok: true, note: `event ${String(event)} ignored` } };
    const payload = parseJson(body, req) as GitlabJobPayload;
    if (payload?.object_kind !== "build" || typeof payload.build_id !== "number" || typeof payload.project_id !== "number") {
      throw new HttpError(400, "Job Hook payload lacks build_id or project_id");
    }
    const key = typeof req.headers["idempotency-key"] === "string" ? req.headers["idempotency-key"] : `${payload.build_id}:${payload.build_status}`;
    const jobId = gitlabJobId(payload);
    const tags = payload.build_status === "pending" ? await d.gitlabTags(payload.project_id, payload.build_id) : undefined;
    const out = await withDeadline("gitlab", () =>
      decideAndStore(d.store, jobId, (h) => decideGitlab(payload, tags, h, defaults), { msgId: `gl:${key}`, correlationId: key, timeoutMs: c.INGEST_STORE_TIMEOUT_MS }),
    );
    d.log.info({ jobId, status: payload.build_status, note: out.note, seq: out.seq }, "gitlab delivery");
    return { status: 202, body: { ok: true, jobId, ...out } };
  };

  const jobs = async (req: IncomingMessage, body: Buffer) => {
    if (!c.ONESHOT_API_TOKEN) throw new HttpError(503, "the job API is not configured (ONESHOT_API_TOKEN)");
    const auth = req.headers.authorization ?? "";
    if (!auth.startsWith("Bearer ") || !safeEqual(auth.slice(7), c.ONESHOT_API_TOKEN)) throw new HttpError(401, "bad or missing bearer token");
    const parsed = LocalJobRequest.safeParse(parseJson(body, req));
    if (!parsed.success) throw new HttpError(400, parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "));
    const jobId = `loc-${newEventId().replace(/-/g, "")}`;
    const requestId = typeof req.headers["x-request-id"] === "string" ? req.headers["x-request-id"].slice(0, 128) : randomUUID();
    const event = localJob(jobId, parsed.data, c.INGEST_DEFAULT_ARCH);
    await withDeadline("jobs", () => d.store.append(event, { msgId: `loc:${jobId}`, expectedLastSubjectSeq: 0, correlationId: requestId, timeoutMs: c.INGEST_STORE_TIMEOUT_MS }));
    d.log.info({ jobId, requestId }, "local job queued");
    return { status: 202, body: { jobId } };
  };

  const routes: Record<string, (req: IncomingMessage, body: Buffer) => Promise<{ status: number; body: unknown }>> = {
    "POST /webhooks/github": github,
    "POST /webhooks/gitlab": gitlab,
    "POST /v1/jobs": jobs,
  };

  return createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    if (req.method === "GET" && path === "/healthz") return json(res, d.healthy() ? 200 : 503, { status: d.healthy() ? "ok" : "unhealthy" });
    if (req.method === "GET" && path === "/metrics") {
      void d.registry.metrics().then((m) => {
        res.writeHead(200, { "content-type": d.registry.contentType });
        res.end(m);
      });
      return;
    }
    const key = `${req.method} ${path}`;
    const handler = routes[key];
    const route = handler ? path : "other";
    if (!handler) {
      d.metrics.requests.inc({ route, outcome: "404" });
      return json(res, 404, { error: `no route ${key}` });
    }
    void (async () => {
      try {
        const body = await readBody(req, c.INGEST_MAX_BODY_BYTES);
        const r = await handler(req, body);
        d.metrics.requests.inc({ route, outcome: String(r.status) });
        json(res, r.status, r.body);
      } catch (e) {
        const status = e instanceof HttpError ? e.status : e instanceof BodyTooLarge ? 413 : 500;
        if (status === 500) d.log.error({ err: e, route }, "request failed");
        d.metrics.requests.inc({ route, outcome: String(status) });
        res.writeHead(status, { "content-type": "application/json", ...(status === 413 ? { connection: "close" } : {}) });
        res.end(JSON.stringify({ error: status === 500 ? "internal error" : (e as Error).message }));
        if (status === 413) req.destroy();
      }
    })();
  });
}
