import { createVerify, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import { onRequest, type Recorded } from "./http-request.js";
import { ActionsModel, type Chooser, type ModelJob, type ModelRunner, type RunnerScope } from "./github-model/actions.js";
import { WebhookSender, type DeliveryFate, type DeliveryInfo, type DeliveryPolicy, type DeliveryRecord } from "./github-model/deliveries.js";
import { RateLimiter, type RateLimitOptions } from "./github-model/rate-limit.js";
import { seededRng } from "./github-model/rng.js";

/**
 * A stand-in for GitHub (which cannot be reached from here): the Actions service's state (jobs,
 * JIT runners, assignment — see github-model/actions.ts), the App's webhook deliveries (see
 * github-model/deliveries.ts) and the REST calls oneshot makes, answered from that state.
 *
 * It checks what the real API checks: the App JWT's RS256 signature and its iat/exp/iss claims
 * on `/app/*`, installation tokens on repo/org calls, the generate-jitconfig body, duplicate
 * runner names (409), deleting a runner that runs a job (422). Every API call is recorded,
 * without credentials; every answer carries `x-ratelimit-*`, and a configurable budget answers
 * 403/429 with `retry-after` once spent.
 *
 * Its runners speak a small protocol under `/_runner/*` (not GitHub's, which is undocumented):
 * the JIT config is base64 JSON `{runner, runner_id, labels, nonce, url?, token?}`; with `url`
 * set (option `runnerUrl`), `images/agent/stand-in-runner` (or `runStandInRunner` here) connects,
 * long-polls for an offer, acquires it, runs the job's script and reports its exit code.
 */
export type FakeGitHubCall = Recorded;

export interface QueueJobInput {
  id: number;
  repo: string;
  labels: string[];
  runId?: number;
  runAttempt?: number;
  name?: string;
  workflowName?: string;
  installationId?: number;
  ownerType?: "Organization" | "User";
  repoId?: number;
  headSha?: string;
  headBranch?: string;
  /** What the stand-in runner runs (POSIX sh, e.g. `sleep 3; exit 0`). Default `exit 0`. */
  script?: string;
}

export interface FakeGitHubOptions {
  appId: string;
  publicKeyPem: string;
  /** Where `workflow_job` deliveries go, signed with `secret` (settable later with `setWebhook`). */
  webhook?: { url: string; secret: string };
  /** Seed for every random choice (assignment, delivery policy). Default 1. */
  seed?: number;
  /** How long an assigned runner has to acquire a job before it is offered again (GitHub: ~60 s). */
  reofferMs?: number;
  /** Assignment chooser; default: a seeded-random one among the eligible runners. */
  chooser?: Chooser;
  /** Random faults on deliveries (drop / duplicate / delay, which reorders). */
  deliveryPolicy?: DeliveryPolicy;
  /** A delivery not answered within this is failed (GitHub: 10 s). */
  deliveryTimeoutMs?: number;
  rateLimit?: RateLimitOptions;
  /** The REST `busy` flag lags the truth by this much (GitHub: 25–60 s). Default 0. */
  busyLagMs?: number;
  /** A connected runner that has not polled for this long shows offline. Default 90 s. */
  offlineAfterMs?: number;
  /** Long-poll length of `/_runner/poll`. Default 20 s. */
  pollMs?: number;
  /** The stand-in's URL as runners must reach it, put in every JIT config minted afterwards (`true`: this server's own URL). Without it, configs carry no URL (a runner then only prints its digest). */
  runnerUrl?: string | true;
  /** Address to listen on (default 127.0.0.1; `0.0.0.0` to serve a relay on another interface). */
  host?: string;
}

export interface FakeGitHub {
  url: string;
  /** API calls (not the runners' protocol), without credentials. */
  calls: FakeGitHubCall[];
  /** The runners' protocol calls. */
  runnerCalls: FakeGitHubCall[];
  /** Configs handed out, by runner name (what a VM's runner would receive). */
  jitConfigs: Map<string, string>;
  /** Installation tokens handed out (each one a POST /app/installations/{id}/access_tokens that passed). */
  tokensIssued(): number;
  /** Make the next generate-jitconfig calls fail with this status (e.g. 422, 429; a 429 carries `retry-after: 30` unless headers say otherwise). */
  failNext(status: number, times?: number, headers?: Record<string, string>): void;

  /** The Actions state. */
  model: ActionsModel;
  /** The webhook sender (records, held deliveries, controls). */
  hook: WebhookSender;
  rateLimit: RateLimiter;
  setWebhook(url: string, secret: string): void;
  setRunnerUrl(url: string | undefined): void;
  /** A job is queued on GitHub: sends `workflow_job.queued` and offers it to a runner that covers it. */
  queueJob(j: QueueJobInput): ModelJob;
  /** Cancels a job (before pickup: completed/cancelled with runner_id null). */
  cancelJob(id: number): ModelJob;
  job(id: number): ModelJob | undefined;
  runner(nameOrId: string | number): ModelRunner | undefined;
  /** The next `times` deliveries that match get this fate (drop / duplicate / hold / delay). */
  controlDeliveries(
    match: Partial<{ event: string; action: string; jobId: number; redelivery: boolean }> | ((d: DeliveryInfo) => boolean),
    fate: DeliveryFate,
    times?: number,
  ): void;
  /** Every delivery attempt, oldest first. */
  deliveries(): DeliveryRecord[];
  /** Resolves when every delivery started so far is recorded (held ones excepted). */
  settleDeliveries(): Promise<void>;
  /** Stop / resume offering jobs (e.g. until several runners are online, to force a swap). */
  pauseAssignment(paused: boolean): void;
  /** Counts by route (`GET /repos/:owner/:repo/actions/jobs/:job_id`), status and rate-limit refusals. */
  counters(): { total: number; byRoute: Record<string, number>; byStatus: Record<string, number>; rateLimited: number; secondaryLimited: number };
  close(): Promise<void>;
}

const b64url = (s: string) => Buffer.from(s, "base64url");

function verifyAppJwt(auth: string | undefined, appId: string, publicKeyPem: string): string | undefined {
  // The auth scheme is case-insensitive (octokit sends `bearer`).
  if (!auth || !/^bearer /i.test(auth)) return "missing bearer JWT";
  const parts = auth.slice(7).trim().split(".");
  if (parts.length !== 3) return "malformed JWT";
  const [h, p, sig] = parts as [string, string, string];
  let header: { alg?: string };
  let claims: { iat?: number; exp?: number; iss?: string | number };
  try {
    header = JSON.parse(b64url(h).toString()) as typeof header;
    claims = JSON.parse(b64url(p).toString()) as typeof claims;
  } catch {
    return "malformed JWT";
  }
  if (header.alg !== "RS256") return "JWT alg must be RS256";
  const ok = createVerify("RSA-SHA256").update(`${h}.${p}`).verify(publicKeyPem, b64url(sig));
  if (!ok) return "JWT signature does not verify";
  const now = Math.floor(Date.now() / 1000);
  if (String(claims.iss) !== appId) return `JWT iss ${String(claims.iss)} is not the App id`;
  if (typeof claims.iat !== "number" || claims.iat > now + 60) return "JWT iat is in the future";
  if (typeof claims.exp !== "number" || claims.exp <= now) return "JWT has expired";
  if (claims.exp - claims.iat > 11 * 60) return "JWT lifetime is over 10 minutes";
  return undefined;
}

type Send = (status: number, payload?: unknown, headers?: Record<string, string>) => void;
type Auth = "jwt" | "token" | "none";
interface Route {
  method: string;
  re: RegExp;
  name: string;
  auth: Auth;
  handle: (m: RegExpExecArray, body: unknown, q: URLSearchParams, send: Send, req: IncomingMessage) => void;
}

const DOCS = "https://docs.github.com/rest";

export function workflowJobPayload(action: string, j: ModelJob): Record<string, unknown> {
  const [owner = "", name = ""] = j.repo.split("/");
  return {
    action,
    workflow_job: {
      id: j.id,
      run_id: j.runId,
      workflow_name: j.workflowName,
      head_branch: j.headBranch,
      run_url: `https://api.github.com/repos/${j.repo}/actions/runs/${j.runId}`,
      run_attempt: j.runAttempt,
      node_id: `CR_${j.id}`,
      head_sha: j.headSha,
      url: `https://api.github.com/repos/${j.repo}/actions/jobs/${j.id}`,
      html_url: `https://github.com/${j.repo}/actions/runs/${j.runId}/job/${j.id}`,
      status: action === "queued" ? "queued" : j.status,
      conclusion: action === "completed" ? j.conclusion : null,
      created_at: j.createdAt,
      started_at: j.startedAt,
      completed_at: action === "completed" ? j.completedAt : null,
      name: j.name,
      steps: [],
      check_run_url: `https://api.github.com/repos/${j.repo}/check-runs/${j.id}`,
      labels: j.labels,
      runner_id: action === "queued" ? null : j.runnerId,
      runner_name: action === "queued" ? null : j.runnerName,
      runner_group_id: action === "queued" || j.runnerId === null ? null : 1,
      runner_group_name: action === "queued" || j.runnerId === null ? null : "Default",
    },
    repository: { id: j.repoId, name, full_name: j.repo, private: true, owner: { login: owner, id: 1, type: j.ownerType } },
    ...(j.ownerType === "Organization" ? { organization: { login: owner, id: 1 } } : {}),
    sender: { login: "octocat", id: 583231, type: "User" },
    installation: { id: j.installationId, node_id: `MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u${j.installationId}` },
  };
}

function jobJson(j: ModelJob) {
  return {
    id: j.id,
    run_id: j.runId,
    run_attempt: j.runAttempt,
    run_url: `https://api.github.com/repos/${j.repo}/actions/runs/${j.runId}`,
    node_id: `CR_${j.id}`,
    head_sha: j.headSha,
    head_branch: j.headBranch,
    url: `https://api.github.com/repos/${j.repo}/actions/jobs/${j.id}`,
    html_url: `https://github.com/${j.repo}/actions/runs/${j.runId}/job/${j.id}`,
    status: j.status,
    conclusion: j.conclusion,
    created_at: j.createdAt,
    started_at: j.startedAt,
    completed_at: j.completedAt,
    name: j.name,
    workflow_name: j.workflowName,
    steps: [],
    labels: j.labels,
    runner_id: j.runnerId,
    runner_name: j.runnerName,
    runner_group_id: j.runnerId === null ? null : 1,
    runner_group_name: j.runnerId === null ? null : "Default",
  };
}

export async function startFakeGitHub(o: FakeGitHubOptions): Promise<FakeGitHub> {
  const calls: FakeGitHubCall[] = [];
  const runnerCalls: FakeGitHubCall[] = [];
  const byRoute: Record<string, number> = {};
  const byStatus: Record<string, number> = {};
  /** Installation token → its installation and expiry, like GitHub's one-hour tokens. */
  const tokens = new Map<string, { installationId: number; expiresAt: number }>();
  const names = new Set<string>();
  const jitConfigs = new Map<string, string>();
  let failing: { status: number; times: number; headers: Record<string, string> } | undefined;
  let runnerUrl: string | undefined;
  const rng = seededRng(o.seed ?? 1);
  const hook = new WebhookSender({ target: o.webhook, timeoutMs: o.deliveryTimeoutMs, policy: o.deliveryPolicy, rng: seededRng((o.seed ?? 1) + 7919) });
  const limiter = new RateLimiter(o.rateLimit);
  const offlineAfterMs = o.offlineAfterMs ?? 90_000;
  const pollMs = o.pollMs ?? 20_000;
  /** Long polls waiting, by runner id. */
  const waiters = new Map<number, Set<() => void>>();
  const wake = (runnerId: number) => {
    for (const w of waiters.get(runnerId) ?? []) w();
  };
  const polling = new Map<number, number>();
  const model = new ActionsModel(
    rng,
    {
      workflowJob: (action, job) => void hook.deliver({ event: "workflow_job", action, payload: workflowJobPayload(action, job) }),
      offered: (_job, r) => wake(r.id),
      runnerRemoved: (r) => wake(r.id),
    },
    { reofferMs: o.reofferMs, chooser: o.chooser, busyLagMs: o.busyLagMs },
  );
  const online = (r: ModelRunner) =>
    r.connected && !r.removed && (r.jobId !== undefined || (polling.get(r.id) ?? 0) > 0 || Date.now() - r.lastSeen < offlineAfterMs);
  const origOnline = model.online.bind(model);
  model.online = (r) => origOnline(r) && online(r);

  const installationToken = (req: IncomingMessage) => {
    const t = (req.headers.authorization ?? "").replace(/^(token|bearer) /i, "");
    const known = tokens.get(t);
    return known && known.expiresAt > Date.now() ? known : undefined;
  };

  const runnerJson = (r: ModelRunner) => ({
    id: r.id,
    name: r.name,
    os: "linux",
    status: online(r) ? "online" : "offline",
    busy: model.reportedBusy(r),
    ephemeral: true,
    runner_group_id: r.runnerGroupId,
    labels: r.labels.map((name, i) => ({ id: i + 1, name, type: name === "self-hosted" ? "read-only" : "custom" })),
  });
  const scopeOf = (m: RegExpExecArray): RunnerScope => {
    const [kind, a = "", b = ""] = m[1]!.split("/");
    return kind === "orgs" ? { kind: "org", org: a } : { kind: "repo", repo: `${a}/${b}` };
  };
  const sameScope = (a: RunnerScope, b: RunnerScope) =>
    a.kind === b.kind &&
    (a.kind === "org" ? a.org.toLowerCase() === (b as { org: string }).org.toLowerCase() : a.repo.toLowerCase() === (b as { repo: string }).repo.toLowerCase());
  const base = () => `http://127.0.0.1:${port}`;
  // `orgs/{org}` or `repos/{owner}/{repo}` (group 1).
  const SCOPE = String.raw`(orgs/[^/]+|repos/[^/]+/[^/]+)`;
  const routes: Route[] = [
    {
      method: "POST",
      re: /^\/app\/installations\/(\d+)\/access_tokens$/,
      name: "POST /app/installations/:id/access_tokens",
      auth: "jwt",
      handle: (m, _b, _q, send) => {
        const t = `ghs_${randomBytes(18).toString("hex")}`;
        const expiresAt = Date.now() + 3600_000;
        tokens.set(t, { installationId: Number(m[1]), expiresAt });
        send(201, {
          token: t,
          expires_at: new Date(expiresAt).toISOString(),
          permissions: { organization_self_hosted_runners: "write", administration: "write", actions: "read", metadata: "read" },
        });
      },
    },
    {
      method: "POST",
      re: new RegExp(`^/${SCOPE}/actions/runners/generate-jitconfig$`),
      name: "POST /:scope/actions/runners/generate-jitconfig",
      auth: "token",
      handle: (m, body, _q, send) => {
        if (failing && failing.times > 0) {
          failing.times--;
          return send(failing.status, { message: `injected ${failing.status}` }, failing.headers);
        }
        const b = body as { name?: unknown; runner_group_id?: unknown; labels?: unknown; work_folder?: unknown };
        const labelsOk =
          Array.isArray(b?.labels) && b.labels.length >= 1 && b.labels.length <= 100 && b.labels.every((l) => typeof l === "string" && l.length > 0);
        if (
          typeof b?.name !== "string" ||
          b.name.length < 1 ||
          b.name.length > 64 ||
          !Number.isInteger(b.runner_group_id) ||
          !labelsOk ||
          (b.work_folder !== undefined && typeof b.work_folder !== "string")
        ) {
          return send(422, {
            message: "Validation Failed",
            documentation_url: `${DOCS}/actions/self-hosted-runners#create-configuration-for-a-just-in-time-runner-for-an-organization`,
          });
        }
        if (names.has(b.name)) return send(409, { message: "Already exists - A runner with the name already exists." });
        names.add(b.name);
        const token = randomBytes(16).toString("hex");
        const r = model.registerRunner({ name: b.name, labels: b.labels as string[], scope: scopeOf(m), runnerGroupId: b.runner_group_id as number, token });
        const cfg = Buffer.from(
          JSON.stringify({
            runner: b.name,
            runner_id: r.id,
            labels: b.labels,
            nonce: randomBytes(8).toString("hex"),
            ...(runnerUrl ? { url: runnerUrl, token } : {}),
          }),
        ).toString("base64");
        jitConfigs.set(b.name, cfg);
        send(201, { runner: runnerJson(r), encoded_jit_config: cfg });
      },
    },
    {
      method: "GET",
      re: new RegExp(`^/${SCOPE}/actions/runners$`),
      name: "GET /:scope/actions/runners",
      auth: "token",
      handle: (m, _b, q, send) => {
        const scope = scopeOf(m);
        const name = q.get("name");
        const all = [...model.runners.values()].filter((r) => sameScope(r.scope, scope) && (name === null || r.name === name)).sort((a, b) => a.id - b.id);
        const perPage = Math.min(100, Math.max(1, Number(q.get("per_page") ?? 30) || 30));
        const page = Math.max(1, Number(q.get("page") ?? 1) || 1);
        send(200, { total_count: all.length, runners: all.slice((page - 1) * perPage, page * perPage).map(runnerJson) });
      },
    },
    {
      method: "GET",
      re: new RegExp(`^/${SCOPE}/actions/runners/(\\d+)$`),
      name: "GET /:scope/actions/runners/:runner_id",
      auth: "token",
      handle: (m, _b, _q, send) => {
        const r = model.runners.get(Number(m[2]));
        if (!r || !sameScope(r.scope, scopeOf(m))) return send(404, { message: "Not Found", documentation_url: DOCS });
        send(200, runnerJson(r));
      },
    },
    {
      method: "DELETE",
      re: new RegExp(`^/${SCOPE}/actions/runners/(\\d+)$`),
      name: "DELETE /:scope/actions/runners/:runner_id",
      auth: "token",
      handle: (m, _b, _q, send) => {
        const r = model.runners.get(Number(m[2]));
        if (!r || !sameScope(r.scope, scopeOf(m))) return send(404, { message: "Not Found", documentation_url: DOCS });
        if (model.removeRunner(r, true) === "busy") {
          return send(422, {
            message: `Bad request - Runner "${r.name}" is still running a job"`,
            documentation_url: `${DOCS}/actions/self-hosted-runners#delete-a-self-hosted-runner-from-an-organization`,
          });
        }
        send(204);
      },
    },
    {
      method: "GET",
      re: /^\/repos\/([^/]+)\/([^/]+)\/actions\/jobs\/(\d+)$/,
      name: "GET /repos/:owner/:repo/actions/jobs/:job_id",
      auth: "token",
      handle: (m, _b, _q, send) => {
        const j = model.jobs.get(Number(m[3]));
        if (!j || j.repo.toLowerCase() !== `${m[1]}/${m[2]}`.toLowerCase()) return send(404, { message: "Not Found", documentation_url: DOCS });
        send(200, jobJson(j));
      },
    },
    {
      method: "GET",
      re: /^\/repos\/([^/]+)\/([^/]+)\/actions\/runs$/,
      name: "GET /repos/:owner/:repo/actions/runs",
      auth: "token",
      handle: (m, _b, q, send) => {
        const repo = `${m[1]}/${m[2]}`.toLowerCase();
        const runs = new Map<number, ModelJob[]>();
        for (const j of model.jobs.values()) if (j.repo.toLowerCase() === repo) runs.set(j.runId, [...(runs.get(j.runId) ?? []), j]);
        const status = (js: ModelJob[]) =>
          js.some((j) => j.status === "in_progress") ? "in_progress" : js.some((j) => j.status === "queued") ? "queued" : "completed";
        const want = q.get("status");
        const list = [...runs.entries()]
          .map(([id, js]) => ({
            id,
            status: status(js),
            conclusion: null,
            run_attempt: js[0]!.runAttempt,
            head_sha: js[0]!.headSha,
            name: js[0]!.workflowName,
          }))
          .filter((r) => !want || r.status === want)
          .sort((a, b) => b.id - a.id);
        send(200, { total_count: list.length, workflow_runs: list });
      },
    },
    {
      method: "GET",
      re: /^\/repos\/([^/]+)\/([^/]+)\/actions\/runs\/(\d+)\/jobs$/,
      name: "GET /repos/:owner/:repo/actions/runs/:run_id/jobs",
      auth: "token",
      handle: (m, _b, _q, send) => {
        const js = [...model.jobs.values()].filter((j) => j.repo.toLowerCase() === `${m[1]}/${m[2]}`.toLowerCase() && j.runId === Number(m[3]));
        if (!js.length) return send(404, { message: "Not Found", documentation_url: DOCS });
        send(200, { total_count: js.length, jobs: js.map(jobJson) });
      },
    },
    {
      method: "GET",
      re: /^\/app\/hook\/deliveries$/,
      name: "GET /app/hook/deliveries",
      auth: "jwt",
      handle: (_m, _b, q, send) => {
        const perPage = Math.min(100, Math.max(1, Number(q.get("per_page") ?? 30) || 30));
        const cursor = q.get("cursor");
        const before = cursor ? Number(/^v1_(\d+)$/.exec(cursor)?.[1] ?? NaN) : Infinity;
        if (Number.isNaN(before)) return send(422, { message: "Invalid cursor", documentation_url: DOCS });
        const want = q.get("status");
        const all = [...hook.records]
          .filter((d) => d.id < before && (!want || (want === "success" ? d.status === "OK" : d.status !== "OK")))
          .sort((a, b) => b.id - a.id);
        const page = all.slice(0, perPage);
        const headers: Record<string, string> = {};
        if (all.length > perPage) {
          const next = new URLSearchParams({ per_page: String(perPage), cursor: `v1_${page.at(-1)!.id}`, ...(want ? { status: want } : {}) });
          headers.link = `<${base()}/app/hook/deliveries?${next.toString()}>; rel="next"`;
        }
        send(200, page.map(listView), headers);
      },
    },
    {
      method: "GET",
      re: /^\/app\/hook\/deliveries\/(\d+)$/,
      name: "GET /app/hook/deliveries/:delivery_id",
      auth: "jwt",
      handle: (m, _b, _q, send) => {
        const d = hook.records.find((x) => x.id === Number(m[1]));
        if (!d) return send(404, { message: "Not Found", documentation_url: DOCS });
        send(200, {
          ...listView(d),
          request: { headers: d.requestHeaders, payload: JSON.parse(d.body) as unknown },
          response: { headers: {}, payload: d.responseBody },
        });
      },
    },
    {
      method: "POST",
      re: /^\/app\/hook\/deliveries\/(\d+)\/attempts$/,
      name: "POST /app/hook/deliveries/:delivery_id/attempts",
      auth: "jwt",
      handle: (m, _b, _q, send) => {
        const d = hook.records.find((x) => x.id === Number(m[1]));
        if (!d) return send(404, { message: "Not Found", documentation_url: DOCS });
        if (Date.now() - Date.parse(d.delivered_at) > 3 * 86400_000) return send(422, { message: "Delivery is older than 3 days", documentation_url: DOCS });
        void hook.deliver({ event: d.event, action: d.action, payload: JSON.parse(d.body) as Record<string, unknown>, guid: d.guid, redelivery: true });
        send(202, {});
      },
    },
  ];

  const listView = (d: DeliveryRecord) => ({
    id: d.id,
    guid: d.guid,
    delivered_at: d.delivered_at,
    redelivery: d.redelivery,
    duration: d.duration,
    status: d.status,
    status_code: d.status_code,
    event: d.event,
    action: d.action,
    installation_id: d.installation_id,
    repository_id: d.repository_id,
    throttled_at: d.throttled_at,
  });

  // The runners' protocol (text answers, easy for busybox sh): `none` | `job <id> <base64 script>` | `removed`.
  const runnerAuth = (req: IncomingMessage): ModelRunner | undefined => {
    const t = /^RunnerToken (\S+)$/.exec(req.headers.authorization ?? "")?.[1];
    const id = Number(req.headers["x-runner-id"]);
    const r = model.runners.get(id) ?? model.removedRunners.find((x) => x.id === id);
    return t && r && r.token === t ? r : undefined;
  };
  const offerText = (r: ModelRunner) => {
    if (r.removed) return "removed\n";
    const j = r.offeredJobId !== undefined ? model.jobs.get(r.offeredJobId) : undefined;
    return j ? `job ${j.id} ${Buffer.from(j.script).toString("base64")}\n` : undefined;
  };
  const field = (raw: string, k: string) => new RegExp(`(?:^|[\\s&])${k}=(-?\\d+)`).exec(raw)?.[1];
  const handleRunner = (req: IncomingMessage, path: string, raw: string, send: Send) => {
    const r = runnerAuth(req);
    if (!r) return send(401, "unauthorized\n");
    if (req.method === "POST" && path === "/_runner/connect") {
      if (r.removed) return send(200, "removed\n");
      model.connect(r.id);
      return send(200, `ok ${r.id} ${r.name}\n`);
    }
    if (req.method === "GET" && path === "/_runner/poll") {
      if (!r.removed && !r.connected) model.connect(r.id);
      r.lastSeen = Date.now();
      const now = offerText(r);
      if (now) return send(200, now);
      polling.set(r.id, (polling.get(r.id) ?? 0) + 1);
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        req.socket.off("close", finish);
        waiters.get(r.id)?.delete(wakeUp);
        polling.set(r.id, (polling.get(r.id) ?? 1) - 1);
        r.lastSeen = Date.now();
      };
      const wakeUp = () => {
        const t = offerText(r);
        if (!t) return;
        finish();
        send(200, t);
      };
      const timer = setTimeout(() => {
        finish();
        send(200, "none\n");
      }, pollMs);
      if (!waiters.has(r.id)) waiters.set(r.id, new Set());
      waiters.get(r.id)!.add(wakeUp);
      req.socket.once("close", finish);
      // It may have become eligible just now (it is polling): offer.
      model.assign();
      return;
    }
    if (req.method === "POST" && path === "/_runner/acquire") {
      const a = model.acquire(r.id, Number(field(raw, "job")));
      return a.ok ? send(200, "ok\n") : send(409, `${a.why}\n`);
    }
    if (req.method === "POST" && path === "/_runner/complete") {
      const j = model.complete(r.id, Number(field(raw, "job")), Number(field(raw, "exit") ?? 1));
      return j ? send(200, `${j.conclusion}\n`) : send(409, "not running that job\n");
    }
    send(404, "not found\n");
  };

  const server = createServer(
    onRequest(
      (rec) => {
        if (rec.path.startsWith("/_runner/")) return void runnerCalls.push(rec);
        calls.push(rec);
        byStatus[rec.status] = (byStatus[rec.status] ?? 0) + 1;
      },
      (req, path, body, send, q, raw) => {
        if (path.startsWith("/_runner/")) return handleRunner(req, path, raw, send);
        const route = routes.find((x) => x.method === req.method && x.re.test(path));
        if (!route) return send(404, { message: "Not Found", documentation_url: DOCS });
        const m = route.re.exec(path)!;
        byRoute[route.name] = (byRoute[route.name] ?? 0) + 1;
        if (route.auth === "jwt") {
          const why = verifyAppJwt(req.headers.authorization, o.appId, o.publicKeyPem);
          if (why) return send(401, { message: why, documentation_url: DOCS });
        } else if (route.auth === "token" && !installationToken(req)) {
          return send(401, { message: "Bad credentials (installation token required)", documentation_url: DOCS });
        }
        const v = limiter.check(req.method ?? "GET");
        if (!v.ok) return send(v.status, { message: v.message, documentation_url: `${DOCS}/overview/rate-limits-for-the-rest-api` }, v.headers);
        route.handle(m, body, q, (status, payload, headers = {}) => send(status, payload, { ...v.headers, ...headers }), req);
      },
    ),
  );
  await new Promise<void>((r) => server.listen(0, o.host ?? "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  if (o.runnerUrl) runnerUrl = o.runnerUrl === true ? base() : o.runnerUrl;
  const matcher = (m: Parameters<FakeGitHub["controlDeliveries"]>[0]) =>
    typeof m === "function"
      ? m
      : (d: DeliveryInfo) =>
          (m.event === undefined || d.event === m.event) &&
          (m.action === undefined || d.action === m.action) &&
          (m.redelivery === undefined || d.redelivery === m.redelivery) &&
          (m.jobId === undefined || (d.payload.workflow_job as { id?: number } | undefined)?.id === m.jobId);
  return {
    url: base(),
    calls,
    runnerCalls,
    jitConfigs,
    tokensIssued: () => tokens.size,
    failNext: (status, times = 1, headers) => void (failing = { status, times, headers: headers ?? (status === 429 ? { "retry-after": "30" } : {}) }),
    model,
    hook,
    rateLimit: limiter,
    setWebhook: (url, secret) => void (hook.target = { url, secret }),
    setRunnerUrl: (url) => void (runnerUrl = url),
    queueJob: (j) => model.queueJob(j),
    cancelJob: (id) => model.cancel(id),
    job: (id) => model.jobs.get(id),
    runner: (k) =>
      typeof k === "number"
        ? (model.runners.get(k) ?? model.removedRunners.find((r) => r.id === k))
        : (model.runnerByName(k) ?? model.removedRunners.find((r) => r.name === k)),
    controlDeliveries: (m, fate, times = 1) => hook.control(matcher(m), fate, times),
    deliveries: () => [...hook.records],
    settleDeliveries: () => hook.settle(),
    pauseAssignment: (p) => {
      model.paused = p;
      if (!p) model.assign();
    },
    counters: () => ({
      total: calls.length,
      byRoute: { ...byRoute },
      byStatus: { ...byStatus },
      rateLimited: limiter.primaryRefusals,
      secondaryLimited: limiter.secondaryRefusals,
    }),
    close: async () => {
      model.close();
      hook.release();
      await hook.settle();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
