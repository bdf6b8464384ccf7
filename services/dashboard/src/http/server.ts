import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { DomainEvent } from "@oneshot/proto";
import type { Logger } from "@oneshot/runtime";
import type { Sessions } from "../auth.js";
import type { DashboardState } from "../core/dashboard-state.js";
import { decideAction, type OperatorAction } from "../core/operator-action.js";
import { jobView, snapshot } from "../core/views.js";
import { readJsonBody, sessionCookie, sessionOf, clearedCookie } from "./request.js";
import { openSse } from "./sse.js";
import { serveStatic } from "./static.js";

/** Every side effect the web app has, built in main.ts. */
export interface DashboardDeps {
  state: DashboardState;
  caughtUp: () => boolean;
  clock: () => number;
  sessions: Sessions;
  /** Change notifications from the live feed; returns an unsubscribe. */
  onChange: (listener: () => void) => () => void;
  /** Appends one operator event (only ever called for a signed-in operator). */
  append: (event: DomainEvent, correlationId: string | undefined) => Promise<{ seq: number }>;
  followConsole: (where: { hostId: string; vmId: string }, raw: boolean, onText: (text: string) => void) => Promise<() => Promise<void>>;
  log: Logger;
  publicDir: string;
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers });
  res.end(JSON.stringify(body));
};

const HOST_ACTION = /^\/api\/hosts\/([A-Za-z0-9_-]{1,64})\/(cordon|uncordon|drain)$/;
const JOB_CANCEL = /^\/api\/jobs\/([^/]{1,128})\/cancel$/;
const JOB = /^\/api\/jobs\/([^/]{1,128})$/;
const JOB_CONSOLE = /^\/api\/jobs\/([^/]{1,128})\/console$/;

/** The dashboard's HTTP surface: pages, JSON views, server-sent events, and the operator's writes. */
export function createDashboardServer(d: DashboardDeps): Server {
  return createServer((req, res) => {
    // Nothing on these pages is meant to be framed, sniffed or loaded from elsewhere.
    res.setHeader("x-content-type-options", "nosniff");
    res.setHeader("x-frame-options", "DENY");
    res.setHeader("referrer-policy", "no-referrer");
    res.setHeader(
      "content-security-policy",
      "default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    route(d, req, res).catch((err: unknown) => {
      d.log.error({ err, path: pathOf(req) }, "request failed");
      if (!res.headersSent) json(res, 500, { error: "internal error" });
      else res.end();
    });
  });
}

const pathOf = (req: IncomingMessage) => new URL(req.url ?? "/", "http://dashboard").pathname;

async function route(d: DashboardDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://dashboard");
  const path = url.pathname;
  const method = req.method ?? "GET";
  const signedIn = d.sessions.valid(sessionOf(req));

  if (method === "GET") {
    if (path === "/healthz") return json(res, d.caughtUp() ? 200 : 503, { status: d.caughtUp() ? "ok" : "catching up", lastSeq: d.state.lastSeq });
    if (path === "/api/snapshot") return json(res, 200, snapshot(d.state, d.clock(), d.caughtUp()));
    if (path === "/api/session") return json(res, 200, { signedIn, signInEnabled: d.sessions.enabled });
    if (path === "/api/stream") return streamViews(d, res, url.searchParams.get("job"));
    const consoleOf = JOB_CONSOLE.exec(path);
    if (consoleOf) return streamConsole(d, res, decodeURIComponent(consoleOf[1]!), url.searchParams.get("raw") === "1");
    const job = JOB.exec(path);
    if (job) {
      const v = jobView(d.state, decodeURIComponent(job[1]!), d.clock());
      return v ? json(res, 200, v) : json(res, 404, { error: "no such job" });
    }
    if (await serveStatic(d.publicDir, path, res)) return;
    return json(res, 404, { error: "not found" });
  }

  if (method === "POST" || method === "DELETE") {
    // Writes come only from our own pages: the cookie is SameSite=Strict and the origin must be ours.
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}` && origin !== `https://${req.headers.host}`) {
      return json(res, 403, { error: "cross-origin request refused" });
    }
    if (path === "/api/session" && method === "POST") {
      if (!d.sessions.enabled) return json(res, 403, { error: "sign-in is not enabled: the dashboard has no admin token configured" });
      const body = await readJsonBody(req, 4096).catch(() => undefined);
      const token = (body as { token?: unknown } | undefined)?.token;
      const from = req.socket.remoteAddress ?? "";
      const r = d.sessions.signIn(typeof token === "string" ? token : "", from);
      if (!r.ok) {
        d.log.warn({ from, why: r.why }, "sign-in refused");
        return r.why === "wait"
          ? json(res, 429, { error: "too many wrong tokens from this address: wait a minute" }, { "retry-after": "60" })
          : json(res, 401, { error: "wrong token" });
      }
      d.log.info({ from }, "operator signed in");
      return json(res, 200, { signedIn: true }, { "set-cookie": sessionCookie(r.id, req) });
    }
    if (path === "/api/session" && method === "DELETE") {
      d.sessions.signOut(sessionOf(req));
      return json(res, 200, { signedIn: false }, { "set-cookie": clearedCookie(req) });
    }
    const action = actionOf(path);
    if (action && method === "POST") {
      if (!signedIn) return json(res, 401, { error: "sign in with the admin token first" });
      const decision = decideAction(d.state, action);
      if (!decision.ok) return json(res, decision.status, { error: decision.reason });
      const r = await d.append(decision.event, decision.correlationId);
      d.log.info(
        { action: action.kind, ...("hostId" in action ? { hostId: action.hostId } : { jobId: action.jobId }), seq: r.seq },
        "operator action appended",
      );
      return json(res, 200, { type: decision.event.type, seq: r.seq });
    }
  }
  return json(res, 404, { error: "not found" });
}

function actionOf(path: string): OperatorAction | undefined {
  const h = HOST_ACTION.exec(path);
  if (h) return { kind: h[2] as "cordon" | "uncordon" | "drain", hostId: h[1]! };
  const c = JOB_CANCEL.exec(path);
  if (c) return { kind: "cancel", jobId: decodeURIComponent(c[1]!) };
  return undefined;
}

/** The views, pushed again (at most every 200 ms) whenever the log or a heartbeat moves. */
function streamViews(d: DashboardDeps, res: ServerResponse, jobId: string | null): void {
  const sse = openSse(res);
  const send = () => {
    const now = d.clock();
    sse.send("snapshot", snapshot(d.state, now, d.caughtUp()));
    if (jobId) sse.send("job", jobView(d.state, jobId, now) ?? null);
  };
  send();
  let timer: NodeJS.Timeout | undefined;
  const off = d.onChange(() => {
    timer ??= setTimeout(() => {
      timer = undefined;
      send();
    }, 200);
  });
  sse.onClose(() => {
    off();
    if (timer) clearTimeout(timer);
  });
}

/** The job's guest console from its first byte, live; waits for the job to get a VM. */
function streamConsole(d: DashboardDeps, res: ServerResponse, jobId: string, raw: boolean): void {
  const sse = openSse(res);
  let stop: (() => Promise<void>) | undefined;
  let following: string | undefined;
  let closed = false;
  const attach = () => {
    const where = jobView(d.state, jobId, d.clock())?.console;
    const key = where && `${where.hostId}/${where.vmId}`;
    if (!where || key === following) return;
    // A requeued or rebound job moves to another VM: follow that one's console from its start.
    following = key;
    const previous = stop;
    stop = undefined;
    void previous?.();
    sse.send("vm", where);
    void d
      .followConsole(where, raw, (text) => sse.send("console", { text }))
      .then(
        (s) => {
          if (closed || following !== key) void s();
          else stop = s;
        },
        (err: unknown) => d.log.warn({ err, jobId }, "console follow failed"),
      );
  };
  attach();
  const off = d.onChange(attach);
  sse.onClose(() => {
    closed = true;
    off();
    void stop?.();
  });
}
