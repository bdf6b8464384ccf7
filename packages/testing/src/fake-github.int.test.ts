import { createHmac, createSign, generateKeyPairSync } from "node:crypto";
import { createServer, type Server } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startFakeGitHub, type FakeGitHub, type FakeGitHubOptions } from "./fake-github.js";
import { runStandInRunner } from "./github-model/runner-client.js";
import { waitFor } from "./wait.js";

// The GitHub stand-in must refuse what GitHub refuses and assign the way GitHub documents, or
// the tests built on it prove nothing.
const app = generateKeyPairSync("rsa", { modulusLength: 2048 });
const pub = app.publicKey.export({ type: "spki", format: "pem" }).toString();
const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);
function jwt(): string {
  const head = `${b64url({ alg: "RS256", typ: "JWT" })}.${b64url({ iat: now() - 60, exp: now() + 540, iss: "4242" })}`;
  return `${head}.${createSign("RSA-SHA256").update(head).sign(app.privateKey).toString("base64url")}`;
}

interface Hit {
  headers: Record<string, string | string[] | undefined>;
  raw: string;
  body: { action: string; workflow_job: { id: number; status: string; conclusion: string | null; runner_id: number | null; runner_name: string | null } };
}

/** A webhook receiver that records deliveries and answers what it is told (default 202). */
async function receiver() {
  const hits: Hit[] = [];
  const answers: number[] = [];
  const server: Server = createServer((req, res) => {
    let raw = "";
    req.on("data", (d: Buffer) => (raw += d.toString()));
    req.on("end", () => {
      hits.push({ headers: req.headers, raw, body: JSON.parse(raw) as Hit["body"] });
      res.writeHead(answers.shift() ?? 202).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/webhooks/github`,
    hits,
    answers,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe("GitHub stand-in: Actions state, deliveries and REST", () => {
  let gh: FakeGitHub;
  let rx: Awaited<ReturnType<typeof receiver>>;
  let token: string;
  const start = async (o: Partial<FakeGitHubOptions> = {}) => {
    gh = await startFakeGitHub({
      appId: "4242",
      publicKeyPem: pub,
      webhook: { url: rx.url, secret: "It's a Secret to Everybody" },
      runnerUrl: true,
      reofferMs: 400,
      pollMs: 2000,
      ...o,
    });
    const r = await fetch(`${gh.url}/app/installations/42/access_tokens`, { method: "POST", headers: { authorization: `Bearer ${jwt()}` } });
    token = ((await r.json()) as { token: string }).token;
  };
  const api = (method: string, path: string, body?: unknown, auth = `token ${token}`) =>
    fetch(`${gh.url}${path}`, {
      method,
      headers: { authorization: auth, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  const mint = async (name: string, labels: string[], scope = "/orgs/acme") => {
    const r = await api("POST", `${scope}/actions/runners/generate-jitconfig`, { name, runner_group_id: 1, labels, work_folder: "_work" });
    expect(r.status).toBe(201);
    return (await r.json()) as { runner: { id: number }; encoded_jit_config: string };
  };
  beforeEach(async () => {
    rx = await receiver();
  });
  afterEach(async () => {
    await gh?.close();
    await rx.close();
  });

  it("sends signed workflow_job deliveries shaped like GitHub's, through queued → in_progress → completed, and removes the JIT runner", async () => {
    await start();
    const { encoded_jit_config: cfg, runner } = await mint("oneshot-h-a", ["oneshot-2cpu-2gb"]);
    gh.queueJob({ id: 7001, repo: "acme/widgets", labels: ["self-hosted", "oneshot-2cpu-2gb"], script: "exit 3" });
    const out = await runStandInRunner(cfg);
    expect(out).toEqual({ kind: "ran", jobId: 7001, exitCode: 3, conclusion: "failure" });
    await gh.settleDeliveries();
    expect(rx.hits.map((h) => h.body.action)).toEqual(["queued", "in_progress", "completed"]);
    const [q, ip, c] = rx.hits as [Hit, Hit, Hit];
    expect(q.body.workflow_job).toMatchObject({ status: "queued", runner_id: null, runner_name: null });
    expect(ip.body.workflow_job).toMatchObject({ status: "in_progress", runner_id: runner.id, runner_name: "oneshot-h-a" });
    expect(c.body.workflow_job).toMatchObject({ status: "completed", conclusion: "failure", runner_name: "oneshot-h-a" });
    for (const h of rx.hits) {
      expect(h.headers["x-github-event"]).toBe("workflow_job");
      expect(h.headers["x-github-delivery"]).toMatch(/^[0-9a-f-]{36}$/);
      expect(h.headers["x-hub-signature-256"]).toBe(`sha256=${createHmac("sha256", "It's a Secret to Everybody").update(h.raw).digest("hex")}`);
    }
    expect(new Set(rx.hits.map((h) => h.headers["x-github-delivery"])).size).toBe(3);
    const job = (await (await api("GET", "/repos/acme/widgets/actions/jobs/7001")).json()) as Record<string, unknown>;
    expect(job).toMatchObject({
      status: "completed",
      conclusion: "failure",
      runner_id: runner.id,
      runner_name: "oneshot-h-a",
      labels: ["self-hosted", "oneshot-2cpu-2gb"],
    });
    expect(job.completed_at).toBeTruthy();
    // One job per JIT runner: it is gone afterwards.
    expect(await (await api("GET", "/orgs/acme/actions/runners?name=oneshot-h-a")).json()).toEqual({ total_count: 0, runners: [] });
  });

  it("refuses what GitHub refuses: App calls without the App JWT, repo calls without an installation token, unknown jobs/runners, deleting a busy runner", async () => {
    await start();
    expect((await api("GET", "/app/hook/deliveries")).status).toBe(401); // an installation token is not the App
    expect((await api("GET", "/app/hook/deliveries", undefined, `Bearer ${jwt()}`)).status).toBe(200);
    expect((await api("GET", "/repos/acme/widgets/actions/jobs/1", undefined, `Bearer ${jwt()}`)).status).toBe(401); // the App JWT is not an installation
    expect((await api("GET", "/repos/acme/widgets/actions/jobs/1", undefined, "token ghs_forged")).status).toBe(401);
    gh.queueJob({ id: 7002, repo: "acme/widgets", labels: ["oneshot"] });
    expect((await api("GET", "/repos/acme/widgets/actions/jobs/7002")).status).toBe(200);
    expect((await api("GET", "/repos/acme/other/actions/jobs/7002")).status).toBe(404);
    expect((await api("DELETE", "/orgs/acme/actions/runners/999999")).status).toBe(404);
    const { encoded_jit_config: cfg, runner } = await mint("oneshot-h-b", ["oneshot"]);
    expect((await api("DELETE", `/repos/acme/widgets/actions/runners/${runner.id}`)).status).toBe(404); // an org runner is not a repo runner
    let release!: () => void;
    const running = runStandInRunner(cfg, { run: () => new Promise<number>((r) => (release = () => r(0))) });
    await waitFor("the job to be in progress", () => gh.job(7002)?.status === "in_progress");
    const busy = await api("DELETE", `/orgs/acme/actions/runners/${runner.id}`);
    expect(busy.status).toBe(422);
    expect(((await busy.json()) as { message: string }).message).toMatch(/is still running a job/);
    expect((await (await api("GET", `/orgs/acme/actions/runners?name=oneshot-h-b`)).json()) as unknown).toMatchObject({
      total_count: 1,
      runners: [{ status: "online", busy: true }],
    });
    release();
    expect(await running).toMatchObject({ kind: "ran", conclusion: "success" });
    // An idle runner can be deleted: 204, then 404; its long poll learns it was removed.
    const idle = await mint("oneshot-h-c", ["oneshot"]);
    const waiting = runStandInRunner(idle.encoded_jit_config);
    await waitFor("the runner to be online", () => gh.model.online(gh.runner("oneshot-h-c")!));
    expect((await api("DELETE", `/orgs/acme/actions/runners/${idle.runner.id}`)).status).toBe(204);
    expect((await api("DELETE", `/orgs/acme/actions/runners/${idle.runner.id}`)).status).toBe(404);
    expect(await waiting).toEqual({ kind: "removed" });
    expect(JSON.stringify(gh.calls)).not.toContain(token);
  });

  it("assigns as GitHub documents: extra runner labels may take a job asking fewer (case-insensitive); a job no runner covers stays queued; repo runners only take their repo's jobs", async () => {
    await start();
    const wide = await mint("oneshot-h-wide", ["Oneshot", "oneshot-4cpu-8gb", "gpu"]);
    const repoOnly = await mint("oneshot-h-repo", ["oneshot"], "/repos/acme/elsewhere");
    const runs = [runStandInRunner(wide.encoded_jit_config), runStandInRunner(repoOnly.encoded_jit_config)];
    await waitFor("both runners online", () => gh.model.online(gh.runner("oneshot-h-wide")!) && gh.model.online(gh.runner("oneshot-h-repo")!));
    gh.queueJob({ id: 7101, repo: "acme/widgets", labels: ["self-hosted", "ONESHOT"] });
    gh.queueJob({ id: 7102, repo: "acme/widgets", labels: ["oneshot", "arm64"] });
    await waitFor("7101 done", () => gh.job(7101)?.status === "completed");
    expect(gh.job(7101)).toMatchObject({ conclusion: "success", runnerName: "oneshot-h-wide" });
    await new Promise((r) => setTimeout(r, 1000)); // several re-offer windows
    expect(gh.job(7102)).toMatchObject({ status: "queued", runnerId: null, offers: 0 });
    expect(gh.runner("oneshot-h-repo")).toMatchObject({ removed: false });
    expect(gh.runner("oneshot-h-repo")?.jobId).toBeUndefined();
    gh.queueJob({ id: 7103, repo: "acme/elsewhere", labels: ["oneshot"] });
    await waitFor("7103 done on the repo runner", () => gh.job(7103)?.status === "completed" && gh.job(7103));
    expect(gh.job(7103)?.runnerName).toBe("oneshot-h-repo");
    expect((await Promise.all(runs)).map((r) => r.kind)).toEqual(["ran", "ran"]);
  });

  it("gives a job to any covering runner (seeded random, not the one booted for it) and re-offers a job its runner did not pick up in time", async () => {
    await start({ seed: 3 });
    // Runners minted "for" jobs 1..4 in that order; GitHub does not know which is for which.
    const cfgs = await Promise.all([1, 2, 3, 4].map((i) => mint(`oneshot-h-r${i}`, ["oneshot"])));
    gh.pauseAssignment(true);
    const runs = cfgs.map((c) => runStandInRunner(c.encoded_jit_config));
    await waitFor("4 runners online", () => [1, 2, 3, 4].every((i) => gh.model.online(gh.runner(`oneshot-h-r${i}`)!)));
    for (const i of [1, 2, 3, 4]) gh.queueJob({ id: 7200 + i, repo: "acme/widgets", labels: ["oneshot"] });
    gh.pauseAssignment(false);
    await Promise.all(runs);
    const pairs = gh.model.assignments.map((a) => [a.jobId - 7200, Number(a.runnerName.slice(-1))]);
    expect(pairs).toHaveLength(4);
    expect(
      pairs.some(([j, r]) => j !== r),
      JSON.stringify(pairs),
    ).toBe(true);

    // A runner that is offered a job but never acquires it: after the window, it is offered again.
    const slow = await mint("oneshot-h-slow", ["oneshot"]);
    const ac = new AbortController();
    const slowRun = runStandInRunner(slow.encoded_jit_config, { acquireDelayMs: 60_000, signal: ac.signal });
    await waitFor("slow online", () => gh.model.online(gh.runner("oneshot-h-slow")!));
    gh.queueJob({ id: 7300, repo: "acme/widgets", labels: ["oneshot"] });
    await waitFor("offered to slow", () => gh.job(7300)?.offer?.runnerId === slow.runner.id);
    const fast = await mint("oneshot-h-fast", ["oneshot"]);
    const fastRun = runStandInRunner(fast.encoded_jit_config);
    await waitFor("re-offered and run elsewhere", () => gh.job(7300)?.status === "completed", 5000);
    expect(gh.job(7300)).toMatchObject({ runnerName: "oneshot-h-fast", conclusion: "success" });
    expect(gh.job(7300)!.offers).toBeGreaterThanOrEqual(2);
    expect(await fastRun).toMatchObject({ kind: "ran", jobId: 7300 });
    ac.abort();
    expect((await slowRun).kind).toBe("aborted");
    // Still queued: GitHub still says `queued`, with no runner, while it is merely offered.
  });

  it("cancels a job before pickup: completed/cancelled with runner_id null, no in_progress", async () => {
    await start();
    gh.queueJob({ id: 7400, repo: "acme/widgets", labels: ["oneshot"] });
    gh.cancelJob(7400);
    await gh.settleDeliveries();
    expect(rx.hits.map((h) => [h.body.action, h.body.workflow_job.conclusion, h.body.workflow_job.runner_id])).toEqual([
      ["queued", null, null],
      ["completed", "cancelled", null],
    ]);
    expect(await (await api("GET", "/repos/acme/widgets/actions/jobs/7400")).json()).toMatchObject({
      status: "completed",
      conclusion: "cancelled",
      runner_id: null,
    });
  });

  it("records a delivery answered 503 as failed and never re-sends it until POST …/attempts, which re-sends the same guid as a redelivery", async () => {
    await start();
    rx.answers.push(503);
    gh.queueJob({ id: 7500, repo: "acme/widgets", labels: ["oneshot"] });
    await gh.settleDeliveries();
    await new Promise((r) => setTimeout(r, 500));
    expect(rx.hits).toHaveLength(1);
    const app = `Bearer ${jwt()}`;
    const list = (await (await api("GET", "/app/hook/deliveries", undefined, app)).json()) as {
      id: number;
      guid: string;
      status: string;
      status_code: number;
      redelivery: boolean;
      event: string;
      action: string;
      installation_id: number;
      repository_id: number;
    }[];
    expect(list).toEqual([
      expect.objectContaining({
        status: "Invalid HTTP Response: 503",
        status_code: 503,
        redelivery: false,
        event: "workflow_job",
        action: "queued",
        installation_id: 42,
        repository_id: 1296269,
      }),
    ]);
    const one = (await (await api("GET", `/app/hook/deliveries/${list[0]!.id}`, undefined, app)).json()) as {
      request: { payload: { workflow_job: { id: number } } };
    };
    expect(one.request.payload.workflow_job.id).toBe(7500);
    const again = await api("POST", `/app/hook/deliveries/${list[0]!.id}/attempts`, undefined, app);
    expect(again.status).toBe(202);
    await gh.settleDeliveries();
    expect(rx.hits).toHaveLength(2);
    expect(rx.hits[1]!.headers["x-github-delivery"]).toBe(list[0]!.guid);
    expect(rx.hits[1]!.raw).toBe(rx.hits[0]!.raw);
    const after = (await (await api("GET", "/app/hook/deliveries", undefined, app)).json()) as typeof list;
    expect(after.map((d) => [d.guid, d.redelivery, d.status])).toEqual([
      [list[0]!.guid, true, "OK"],
      [list[0]!.guid, false, "Invalid HTTP Response: 503"],
    ]);
    expect((await api("POST", "/app/hook/deliveries/1/attempts", undefined, app)).status).toBe(404);
  });

  it("drops, duplicates, holds (reorders) and times out deliveries on request; a dropped one is a failed record the receiver never saw", async () => {
    await start({ deliveryTimeoutMs: 300 });
    gh.controlDeliveries({ action: "queued", jobId: 7601 }, { kind: "drop" });
    gh.controlDeliveries({ jobId: 7602 }, { kind: "duplicate" });
    gh.controlDeliveries({ jobId: 7603 }, { kind: "hold" });
    for (const id of [7601, 7602, 7603, 7604]) gh.queueJob({ id, repo: "acme/widgets", labels: ["oneshot"] });
    await gh.settleDeliveries();
    expect(rx.hits.map((h) => h.body.workflow_job.id)).toEqual([7602, 7602, 7604]);
    expect(gh.hook.release()).toBe(1);
    await gh.settleDeliveries();
    expect(rx.hits.map((h) => h.body.workflow_job.id)).toEqual([7602, 7602, 7604, 7603]);
    const dropped = gh.deliveries().find((d) => d.injected === "dropped")!;
    expect(dropped).toMatchObject({ status: "failed to connect to host", status_code: 0 });
    // A receiver slower than the timeout: failed ("timed out"), not retried.
    const slow = createServer((_q, res) => setTimeout(() => res.writeHead(202).end(), 1000));
    await new Promise<void>((r) => slow.listen(0, "127.0.0.1", r));
    gh.setWebhook(`http://127.0.0.1:${(slow.address() as { port: number }).port}/`, "s");
    gh.cancelJob(7604);
    await gh.settleDeliveries();
    expect(gh.deliveries().at(-1)).toMatchObject({ status: "timed out", status_code: 0, action: "completed" });
    slow.closeAllConnections();
    slow.close();
  });

  it("paginates /app/hook/deliveries newest first with a Link cursor and per_page", async () => {
    await start();
    for (let i = 0; i < 5; i++) gh.queueJob({ id: 7700 + i, repo: "acme/widgets", labels: ["nothing-covers-this"] });
    await gh.settleDeliveries();
    const seen: number[] = [];
    let next: string | undefined = `${gh.url}/app/hook/deliveries?per_page=2`;
    let pages = 0;
    while (next) {
      const r = await fetch(next, { headers: { authorization: `Bearer ${jwt()}` } });
      const page = (await r.json()) as { id: number; status: string }[];
      seen.push(...page.map((d) => d.id));
      next = /<([^>]+)>;\s*rel="next"/.exec(r.headers.get("link") ?? "")?.[1];
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual([...seen].sort((a, b) => b - a));
    expect(new Set(seen).size).toBe(5);
    expect((await api("GET", "/app/hook/deliveries?cursor=bogus", undefined, `Bearer ${jwt()}`)).status).toBe(422);
  });

  it("carries x-ratelimit-* on every answer and refuses with 403 (primary) or 429 + retry-after (secondary) when the budget is spent; counts calls by route", async () => {
    await start({ rateLimit: { limit: 5, pointsPerMinute: 1000 } });
    const r = await api("GET", "/orgs/acme/actions/runners");
    expect(r.headers.get("x-ratelimit-limit")).toBe("5");
    expect(Number(r.headers.get("x-ratelimit-remaining"))).toBeLessThan(5);
    expect(r.headers.get("x-ratelimit-reset")).toMatch(/^\d+$/);
    gh.rateLimit.throttleNext(1, 429, 7);
    const t = await api("GET", "/orgs/acme/actions/runners");
    expect([t.status, t.headers.get("retry-after")]).toEqual([429, "7"]);
    gh.rateLimit.exhaust();
    const x = await api("GET", "/orgs/acme/actions/runners");
    expect([x.status, x.headers.get("x-ratelimit-remaining")]).toEqual([403, "0"]);
    expect(gh.counters()).toMatchObject({ byRoute: { "GET /:scope/actions/runners": 3 }, rateLimited: 1, secondaryLimited: 1 });
  });

  it("the secondary limit counts points per minute (POST 5, GET 1)", async () => {
    await start({ rateLimit: { pointsPerMinute: 12, retryAfterS: 30 } });
    // the token POST already spent 5 points
    await mint("oneshot-h-p", ["oneshot"]); // 10
    expect((await api("GET", "/orgs/acme/actions/runners")).status).toBe(200); // 11
    expect((await api("GET", "/orgs/acme/actions/runners")).status).toBe(200); // 12
    const r = await api("GET", "/orgs/acme/actions/runners");
    expect([r.status, r.headers.get("retry-after")]).toEqual([429, "30"]);
  });

  it("reports a lagging busy flag (GitHub's lags 25-60 s): busy=false while the job runs", async () => {
    await start({ busyLagMs: 60_000 });
    const { encoded_jit_config: cfg } = await mint("oneshot-h-lag", ["oneshot"]);
    let release!: () => void;
    const run = runStandInRunner(cfg, { run: () => new Promise<number>((r) => (release = () => r(0))) });
    gh.queueJob({ id: 7800, repo: "acme/widgets", labels: ["oneshot"] });
    await waitFor("in progress", () => gh.job(7800)?.status === "in_progress");
    expect(await (await api("GET", "/orgs/acme/actions/runners?name=oneshot-h-lag")).json()).toMatchObject({ runners: [{ busy: false, status: "online" }] });
    expect((await api("DELETE", `/orgs/acme/actions/runners/${gh.runner("oneshot-h-lag")!.id}`)).status).toBe(422); // the atomic check is not fooled
    release();
    await run;
  });

  it("keeps the old behaviour without runnerUrl: the config carries no URL", async () => {
    await start({ runnerUrl: undefined });
    const { encoded_jit_config: cfg } = await mint("oneshot-h-old", ["oneshot"]);
    expect(JSON.parse(Buffer.from(cfg, "base64").toString())).not.toHaveProperty("url");
    expect(await runStandInRunner(cfg)).toEqual({ kind: "no-url" });
  });
});
