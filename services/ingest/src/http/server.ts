import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import { BodyAborted, BodyTooLarge, readBody } from "./body.js";
import { DeadlineExceeded } from "./deadline.js";
import { webhookProviders, type Providers } from "../providers/registry.js";
import type { GitlabProviderDeps } from "../providers/gitlab/provider.js";
import { HttpError } from "./http-error.js";
import { jobsRoute } from "./jobs-route.js";
import type { Route, RouteDeps } from "./route.js";

export interface IngestDeps extends RouteDeps {
  registry: Registry;
  /** Whether the service can do its work (NATS connection); `/healthz` answers 503 otherwise. */
  healthy: () => boolean;
  /** The CI providers: each one with a webhook is served at `/webhooks/<name>`. */
  providers?: Providers;
  /** Without `providers` only: GitLab job tags for webhook-only providers (the bench). */
  gitlabTags?: GitlabProviderDeps["jobTags"];
}

const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
};

/** Seconds a refused-for-now sender should wait (GitHub and GitLab ignore it; the CLI may not). */
const RETRY_AFTER = "5";

/**
 * ingest's one HTTP server (node:http): the webhooks, the job API, `/healthz`, and `/metrics`
 * unless an ops port (INGEST_HTTP_PORT) serves it. Requests in flight and connections are
 * capped, so slow bodies cannot pile up in memory.
 * Every failure maps to one status here; a 5xx never says more than "retry later" or
 * "internal error", and nothing from a request body reaches a log line.
 */
export function createIngestServer(d: IngestDeps): Server {
  const c = d.config;
  // Prometheus is scraped on the ops port when there is one: the internet-facing port then serves no /metrics.
  const opsPaths = c.INGEST_HTTP_PORT ? ["/healthz"] : ["/healthz", "/metrics"];
  let inFlight = 0;
  const providers = d.providers ?? webhookProviders(d.config, d.gitlabTags);
  const routes = new Map<string, Route>([["/v1/jobs", jobsRoute(d)]]);
  for (const p of providers.values()) if (p.webhook) routes.set(`/webhooks/${p.name}`, p.webhook(d));

  const ops = (res: ServerResponse, path: string) => {
    if (path === "/healthz") {
      const ok = d.healthy();
      return send(res, ok ? 200 : 503, { status: ok ? "ok" : "unhealthy", ...(ok ? {} : { failing: ["nats"] }) });
    }
    void d.registry.metrics().then(
      (text) => {
        res.writeHead(200, { "content-type": d.registry.contentType });
        res.end(text);
      },
      () => send(res, 500, { error: "internal error" }),
    );
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, route: Route, path: string) => {
    const count = (status: number) => d.metrics.requests.inc({ route: path, outcome: String(status) });
    let bodyRead = false;
    const body = async () => {
      const b = await readBody(req, path === "/v1/jobs" ? c.INGEST_JOB_MAX_BODY_BYTES : c.INGEST_MAX_BODY_BYTES);
      bodyRead = true;
      return b;
    };
    try {
      const r = await route(req, body);
      count(r.status);
      send(res, r.status, r.body);
    } catch (e) {
      if (e instanceof BodyAborted) {
        count(499);
        return;
      }
      if (e instanceof BodyTooLarge) {
        count(413);
        // The rest of the body is never read: answer, then close the connection.
        send(res, 413, { error: e.message }, { connection: "close" });
        res.once("finish", () => setTimeout(() => req.socket.destroy(), 1_000).unref());
        return;
      }
      if (e instanceof HttpError) {
        count(e.status);
        // Refused before its body was read (no auth, bad headers): do not read it to keep the connection.
        return send(res, e.status, { error: e.message }, bodyRead ? e.headers : { ...e.headers, connection: "close" });
      }
      if (e instanceof DeadlineExceeded || (e as { retryable?: unknown }).retryable === true) {
        count(503);
        d.log.warn({ route: path, err: errSummary(e) }, "not stored in time; the sender should deliver again");
        return send(res, 503, { error: "event store unavailable; deliver again later" }, { "retry-after": RETRY_AFTER });
      }
      count(500);
      d.log.error({ route: path, err: errSummary(e) }, "request failed");
      send(res, 500, { error: "internal error" });
    }
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    if (opsPaths.includes(path)) {
      if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, { error: "use GET" }, { allow: "GET" });
      return ops(res, path);
    }
    const route = routes.get(path);
    if (!route) {
      d.metrics.requests.inc({ route: "other", outcome: "404" });
      return send(res, 404, { error: "no such route" });
    }
    if (req.method !== "POST") {
      d.metrics.requests.inc({ route: path, outcome: "405" });
      return send(res, 405, { error: "use POST" }, { allow: "POST" });
    }
    if (inFlight >= c.INGEST_MAX_IN_FLIGHT) {
      d.metrics.requests.inc({ route: path, outcome: "503" });
      return send(res, 503, { error: "too many requests in flight; deliver again later" }, { "retry-after": RETRY_AFTER, connection: "close" });
    }
    inFlight++;
    void handle(req, res, route, path).finally(() => inFlight--);
  });
  server.maxConnections = c.INGEST_MAX_CONNECTIONS;
  // Webhook senders deliver in one go: a request trickling in for longer is not one of them.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return server;
}

/** An error as a log field: its name, message and cause's message; never request data. */
function errSummary(e: unknown): { name: string; message: string; cause?: string } {
  const err = e as { name?: string; message?: string; cause?: { message?: string } };
  return {
    name: err?.name ?? "Error",
    message: String(err?.message ?? e).slice(0, 300),
    ...(err?.cause?.message ? { cause: err.cause.message.slice(0, 300) } : {}),
  };
}
