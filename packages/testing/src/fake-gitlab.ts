import { randomBytes, randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { onRequest } from "./http-request.js";

/**
 * A stand-in for the GitLab REST calls oneshot makes: job tags, runner creation and deletion.
 * It checks the `PRIVATE-TOKEN`, validates bodies as GitLab does (runner_type, project_id for
 * project runners), and records every call without credentials.
 *
 * It also models GitLab's pull model: pending jobs with a tag_list; a runner polling
 * `POST /api/v4/jobs/request` with its `glrt-` token takes ANY pending job of its project whose
 * tags are a subset of its tags (an untagged job only on a runner without tags, GitLab's
 * run_untagged default), not "the job it was created for"; `PUT /api/v4/jobs/:id` ends it,
 * authenticated with the job's own token (GitLab's runner API: a job is updated with the job
 * token it was handed, so it runs on after its runner is deleted). A runner created with
 * `access_level: ref_protected` takes only jobs of protected refs (GitLab's two levels:
 * `not_protected`, any ref, the default; `ref_protected`); branches and tags answer
 * `GET /projects/:id/repository/{branches,tags}/:name` with their `protected` flag. Job
 * Hook deliveries (`X-Gitlab-Event: Job Hook`, `X-Gitlab-Token`, `Idempotency-Key`) go to the
 * configured URL and can be dropped.
 */
export interface GitLabJob {
  id: number;
  projectId: number;
  tags: string[];
  name: string;
  script: string;
  status: "pending" | "running" | "success" | "failed" | "canceled";
  runnerId: number | null;
  /** The job's ref (branch or tag name), whether it is a tag, and whether that ref is protected. */
  ref: string;
  tag: boolean;
  protectedRef: boolean;
  /** The job token handed to the runner that took the job (`PUT /jobs/:id` needs it). */
  token: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface GitLabHookRecord {
  idempotencyKey: string;
  status: string;
  jobId: number;
  statusCode: number;
  dropped: boolean;
  at: string;
}

export interface FakeGitLab {
  url: string;
  calls: { method: string; path: string; body: unknown; status: number }[];
  /** Live runners by id. */
  runners: Map<number, { token: string; tags: string[]; projectId: number; description: string; accessLevel: "not_protected" | "ref_protected" }>;
  /** Tags of a job, served by `GET /api/v4/projects/:id/jobs/:job_id`. */
  setJobTags(projectId: number, jobId: number, tags: string[]): void;
  /** Make the next API calls fail with this status (e.g. 500, 429 with `retry-after: 20`). */
  failNext(status: number, times?: number, headers?: Record<string, string>): void;
  /** Jobs of the pull model, by id. */
  jobs: Map<number, GitLabJob>;
  /** A pending job (sends a `pending` Job Hook when a webhook is set). */
  queueJob(j: {
    id: number;
    projectId: number;
    tags: string[];
    name?: string;
    script?: string;
    ref?: string;
    tag?: boolean;
    protectedRef?: boolean;
  }): GitLabJob;
  cancelJob(id: number): GitLabJob;
  setWebhook(url: string, token: string): void;
  /** Drop the next `times` Job Hook deliveries (matching `status`, when given): recorded, never sent. */
  dropHooks(times?: number, status?: string): void;
  hooks: GitLabHookRecord[];
  settleHooks(): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeGitLab(o: { token: string; webhook?: { url: string; token: string } }): Promise<FakeGitLab> {
  const calls: FakeGitLab["calls"] = [];
  const runners: FakeGitLab["runners"] = new Map();
  const jobs = new Map<string, string[]>();
  const model = new Map<number, GitLabJob>();
  const hooks: GitLabHookRecord[] = [];
  const inflight = new Set<Promise<void>>();
  let webhook = o.webhook;
  let drops: { times: number; status?: string }[] = [];
  const hook = (j: GitLabJob) => {
    const drop = drops.find((d) => d.times > 0 && (!d.status || d.status === j.status));
    const idempotencyKey = randomUUID();
    const rec: GitLabHookRecord = { idempotencyKey, status: j.status, jobId: j.id, statusCode: 0, dropped: !!drop, at: new Date().toISOString() };
    hooks.push(rec);
    if (drop) return void drop.times--;
    if (!webhook) return;
    const r = runners.get(j.runnerId ?? -1);
    const body = JSON.stringify({
      object_kind: "build",
      ref: j.ref,
      tag: j.tag,
      before_sha: "0".repeat(40),
      sha: "f83a356604ae3c5d03e1b46ef4d1ca77d64a90b0",
      retries_count: 0,
      build_id: j.id,
      build_name: j.name,
      build_stage: "test",
      build_status: j.status,
      build_created_at: j.createdAt,
      build_started_at: j.startedAt,
      build_finished_at: j.finishedAt,
      build_failure_reason: j.status === "failed" ? "script_failure" : "unknown_failure",
      pipeline_id: j.id * 10,
      project_id: j.projectId,
      project_name: `acme / p${j.projectId}`,
      project: { id: j.projectId, path_with_namespace: `acme/p${j.projectId}` },
      runner: r ? { id: j.runnerId, description: r.description, runner_type: "project_type", active: true, is_shared: false, tags: r.tags } : null,
    });
    const p = fetch(webhook.url, {
      method: "POST",
      body,
      signal: AbortSignal.timeout(10_000),
      headers: {
        "content-type": "application/json",
        "x-gitlab-event": "Job Hook",
        "x-gitlab-token": webhook.token,
        "idempotency-key": idempotencyKey,
        "x-gitlab-event-uuid": randomUUID(),
      },
    })
      .then(async (res) => void ((rec.statusCode = res.status), await res.text()))
      .catch(() => void (rec.statusCode = 0))
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };
  const set = (j: GitLabJob, status: GitLabJob["status"]) => {
    j.status = status;
    if (status === "running") j.startedAt = new Date().toISOString();
    if (["success", "failed", "canceled"].includes(status)) j.finishedAt = new Date().toISOString();
    hook(j);
  };
  const byRunnerToken = (t: unknown) => [...runners.entries()].find(([, r]) => typeof t === "string" && r.token === t);
  let nextId = 500;
  let failing: { status: number; times: number; headers: Record<string, string> } | undefined;
  const server = createServer(
    onRequest(calls, (req, path, body, send, query) => {
      // The runner API authenticates with the runner's own token, in the body.
      if (req.method === "POST" && path === "/api/v4/jobs/request") {
        const me = byRunnerToken((body as { token?: unknown })?.token);
        if (!me) return send(403, { message: "403 Forbidden" });
        const [id, r] = me;
        const have = new Set(r.tags.map((t) => t.toLowerCase()));
        const j = [...model.values()]
          .filter(
            (x) =>
              x.status === "pending" && x.projectId === r.projectId && (x.tags.length ? x.tags.every((t) => have.has(t.toLowerCase())) : r.tags.length === 0),
          )
          .filter((x) => r.accessLevel === "not_protected" || x.protectedRef)
          .sort((a, b) => a.id - b.id)[0];
        if (!j) return send(204);
        j.runnerId = id;
        j.token = `glcbt-${randomBytes(10).toString("hex")}`;
        set(j, "running");
        return send(201, {
          id: j.id,
          token: j.token,
          allow_git_fetch: false,
          job_info: { id: j.id, name: j.name, project_id: j.projectId },
          steps: [{ name: "script", script: [j.script], when: "on_success" }],
          variables: [],
        });
      }
      const put = /^\/api\/v4\/jobs\/(\d+)$/.exec(path);
      if (req.method === "PUT" && put) {
        const j = model.get(Number(put[1]));
        // The job token, not the runner's: a deleted runner's job still reports its end.
        if (!j || j.token === null || (body as { token?: unknown })?.token !== j.token) return send(403, { message: "403 Forbidden" });
        const state = (body as { state?: string }).state;
        if (j.status !== "running") return send(200, { status: j.status });
        if (state === "success" || state === "failed") set(j, state);
        return send(200, { status: j.status });
      }
      if (req.headers["private-token"] !== o.token) return send(401, { message: "401 Unauthorized" });
      if (failing && failing.times > 0) {
        failing.times--;
        return send(failing.status, { message: `injected ${failing.status}` }, failing.headers);
      }
      const job = /^\/api\/v4\/projects\/(\d+)\/jobs\/(\d+)$/.exec(path);
      if (req.method === "GET" && job) {
        const m = model.get(Number(job[2]));
        if (m && m.projectId === Number(job[1])) {
          const r = m.runnerId === null ? undefined : runners.get(m.runnerId);
          return send(200, {
            id: m.id,
            status: m.status,
            name: m.name,
            tag_list: m.tags,
            ref: m.ref,
            tag: m.tag,
            created_at: m.createdAt,
            started_at: m.startedAt,
            finished_at: m.finishedAt,
            runner: m.runnerId === null ? null : { id: m.runnerId, description: r?.description ?? "", active: true, is_shared: false },
          });
        }
        const tags = jobs.get(`${job[1]}/${job[2]}`);
        return tags ? send(200, { id: Number(job[2]), status: "pending", tag_list: tags }) : send(404, { message: "404 Not found" });
      }
      const refQ = /^\/api\/v4\/projects\/(\d+)\/repository\/(branches|tags)\/(.+)$/.exec(path);
      if (req.method === "GET" && refQ) {
        const name = decodeURIComponent(refQ[3]!);
        const isTag = refQ[2] === "tags";
        const j = [...model.values()].find((x) => x.projectId === Number(refQ[1]) && x.ref === name && x.tag === isTag);
        return j ? send(200, { name, protected: j.protectedRef }) : send(404, { message: isTag ? "404 Tag Not Found" : "404 Branch Not Found" });
      }
      if (req.method === "POST" && path === "/api/v4/user/runners") {
        // GitLab takes tag_list as an array (JSON) or a comma-separated string (form fields).
        const b = body as { runner_type?: string; project_id?: number; tag_list?: string | string[]; description?: string; access_level?: string };
        const accessLevel = b?.access_level ?? "not_protected";
        if (accessLevel !== "not_protected" && accessLevel !== "ref_protected") return send(400, { message: "access_level does not have a valid value" });
        if (!["instance_type", "group_type", "project_type"].includes(b?.runner_type ?? "")) return send(400, { message: "runner_type is invalid" });
        if (b.runner_type === "project_type" && typeof b.project_id !== "number") return send(400, { message: "project_id is missing" });
        const id = ++nextId;
        const token = `glrt-${randomBytes(10).toString("hex")}`;
        const tags = Array.isArray(b.tag_list) ? b.tag_list : (b.tag_list ?? "").split(",").filter(Boolean);
        if (!tags.every((t) => typeof t === "string")) return send(400, { message: "tag_list is invalid" });
        runners.set(id, { token, tags, projectId: b.project_id!, description: b.description ?? "", accessLevel });
        return send(201, { id, token, token_expires_at: null });
      }
      const rj = /^\/api\/v4\/runners\/(\d+)\/jobs$/.exec(path);
      if (req.method === "GET" && rj) {
        if (!runners.has(Number(rj[1]))) return send(404, { message: "404 Runner Not Found" });
        const want = query.get("status");
        const list = [...model.values()].filter((j) => j.runnerId === Number(rj[1]) && (!want || j.status === want));
        return send(
          200,
          list.map((j) => ({ id: j.id, status: j.status, name: j.name, project: { id: j.projectId } })),
        );
      }
      const del = /^\/api\/v4\/runners\/(\d+)$/.exec(path);
      if (req.method === "DELETE" && del) {
        return runners.delete(Number(del[1])) ? send(204) : send(404, { message: "404 Runner Not Found" });
      }
      send(404, { message: "404 Not Found" });
    }),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    calls,
    runners,
    setJobTags: (p, j, tags) => void jobs.set(`${p}/${j}`, tags),
    failNext: (status, times = 1, headers) => void (failing = { status, times, headers: headers ?? (status === 429 ? { "retry-after": "20" } : {}) }),
    jobs: model,
    queueJob: (j) => {
      const job: GitLabJob = {
        name: `job-${j.id}`,
        script: "exit 0",
        ref: "main",
        tag: false,
        protectedRef: false,
        ...j,
        status: "pending",
        runnerId: null,
        token: null,
        createdAt: new Date().toISOString(),
        startedAt: null,
        finishedAt: null,
      };
      model.set(job.id, job);
      hook(job);
      return job;
    },
    cancelJob: (id) => {
      const j = model.get(id);
      if (!j) throw new Error(`no job ${id}`);
      if (j.status === "pending" || j.status === "running") set(j, "canceled");
      return j;
    },
    setWebhook: (url, token) => void (webhook = { url, token }),
    dropHooks: (times = 1, status) => void (drops = [...drops, { times, ...(status ? { status } : {}) }]),
    hooks,
    settleHooks: async () => void (await Promise.all([...inflight])),
    close: async () => {
      await Promise.all([...inflight]);
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
