import { createServer } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeGitLab, type FakeGitLab } from "./fake-gitlab.js";

// GitLab's pull model: a runner takes ANY pending job of its project whose tags it has.
describe("GitLab stand-in: pull model, Job Hooks, runner/job REST", () => {
  let gl: FakeGitLab;
  const hits: { headers: Record<string, unknown>; body: { build_id: number; build_status: string; runner: { id: number } | null } }[] = [];
  const rx = createServer((req, res) => {
    let raw = "";
    req.on("data", (d: Buffer) => (raw += d.toString()));
    req.on("end", () => {
      hits.push({ headers: req.headers, body: JSON.parse(raw) as (typeof hits)[number]["body"] });
      res.writeHead(200).end();
    });
  });
  beforeAll(async () => {
    await new Promise<void>((r) => rx.listen(0, "127.0.0.1", r));
    gl = await startFakeGitLab({
      token: "glpat-x",
      webhook: { url: `http://127.0.0.1:${(rx.address() as { port: number }).port}/webhooks/gitlab`, token: "hook-secret" },
    });
  });
  afterAll(async () => {
    await gl?.close();
    rx.close();
  });
  const api = (method: string, path: string, body?: unknown, headers: Record<string, string> = { "private-token": "glpat-x" }) =>
    fetch(`${gl.url}/api/v4${path}`, {
      method,
      headers: { ...headers, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  const runner = async (tags: string[], projectId = 1) =>
    (await (await api("POST", "/user/runners", { runner_type: "project_type", project_id: projectId, tag_list: tags })).json()) as {
      id: number;
      token: string;
    };

  it("a runner takes any pending job of its project whose tags are a subset of its tags; Job Hooks carry the token and an Idempotency-Key", async () => {
    const a = await runner(["oneshot", "oneshot-2cpu-2gb", "extra"]);
    const other = await runner(["oneshot"], 2);
    gl.queueJob({ id: 301, projectId: 1, tags: ["oneshot", "gpu"] }); // nobody covers it
    gl.queueJob({ id: 302, projectId: 1, tags: ["Oneshot"] });
    expect((await api("POST", "/jobs/request", { token: "glrt-forged" }, {})).status).toBe(403);
    expect((await api("POST", "/jobs/request", { token: other.token }, {})).status).toBe(204); // another project's runner
    const took = await api("POST", "/jobs/request", { token: a.token }, {});
    expect(took.status).toBe(201);
    expect(((await took.json()) as { id: number }).id).toBe(302);
    expect(await (await api("GET", "/projects/1/jobs/302")).json()).toMatchObject({ status: "running", runner: { id: a.id }, tag_list: ["Oneshot"] });
    expect(await (await api("GET", `/runners/${a.id}/jobs?status=running`)).json()).toEqual([expect.objectContaining({ id: 302, status: "running" })]);
    const jobToken = gl.jobs.get(302)!.token!;
    expect(jobToken).toMatch(/^glcbt-/);
    // GitLab's runner API updates a job with its job token: not another runner's, not even its own runner's.
    expect((await api("PUT", "/jobs/302", { token: other.token, state: "success" }, {})).status).toBe(403);
    expect((await api("PUT", "/jobs/302", { token: a.token, state: "success" }, {})).status).toBe(403);
    expect((await api("PUT", "/jobs/302", { token: jobToken, state: "success" }, {})).status).toBe(200);
    expect(await (await api("GET", "/projects/1/jobs/301")).json()).toMatchObject({ status: "pending", runner: null });
    expect(await (await api("GET", `/runners/${a.id}/jobs?status=running`)).json()).toEqual([]);
    expect((await api("DELETE", `/runners/${a.id}`)).status).toBe(204);
    await gl.settleHooks();
    expect(hits.filter((h) => h.body.build_id === 302).map((h) => h.body.build_status)).toEqual(["pending", "running", "success"]);
    for (const h of hits) {
      expect(h.headers["x-gitlab-event"]).toBe("Job Hook");
      expect(h.headers["x-gitlab-token"]).toBe("hook-secret");
      expect(h.headers["idempotency-key"]).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it("drops Job Hooks on request (recorded, never sent) and cancels a pending job", async () => {
    const before = hits.length;
    gl.dropHooks(1, "pending");
    gl.queueJob({ id: 401, projectId: 1, tags: ["oneshot"] });
    gl.cancelJob(401);
    await gl.settleHooks();
    expect(hits.slice(before).map((h) => [h.body.build_id, h.body.build_status])).toEqual([[401, "canceled"]]);
    expect(gl.hooks.filter((h) => h.jobId === 401).map((h) => [h.status, h.dropped])).toEqual([
      ["pending", true],
      ["canceled", false],
    ]);
    const r = await runner(["oneshot"]);
    expect((await api("POST", "/jobs/request", { token: r.token }, {})).status).toBe(204); // a cancelled job is not taken
  });

  it("a ref_protected runner takes only jobs of protected refs; a deleted runner's job still ends with its job token", async () => {
    gl.queueJob({ id: 501, projectId: 3, tags: ["oneshot"], ref: "feature/x" });
    gl.queueJob({ id: 502, projectId: 3, tags: ["oneshot"], ref: "main", protectedRef: true });
    expect(await (await api("GET", "/projects/3/repository/branches/main")).json()).toEqual({ name: "main", protected: true });
    expect(await (await api("GET", `/projects/3/repository/branches/${encodeURIComponent("feature/x")}`)).json()).toEqual({
      name: "feature/x",
      protected: false,
    });
    expect((await api("GET", "/projects/3/repository/tags/main")).status).toBe(404);
    expect((await api("POST", "/user/runners", { runner_type: "project_type", project_id: 3, tag_list: ["oneshot"], access_level: "protected" })).status).toBe(
      400,
    );
    const prot = (await (
      await api("POST", "/user/runners", { runner_type: "project_type", project_id: 3, tag_list: ["oneshot"], access_level: "ref_protected" })
    ).json()) as { id: number; token: string };
    const took = (await (await api("POST", "/jobs/request", { token: prot.token }, {})).json()) as { id: number; token: string };
    expect(took.id).toBe(502); // 501 is older, but its ref is not protected
    expect((await api("POST", "/jobs/request", { token: prot.token }, {})).status).toBe(204);
    expect((await api("DELETE", `/runners/${prot.id}`)).status).toBe(204);
    expect((await api("POST", "/jobs/request", { token: prot.token }, {})).status).toBe(403); // the runner token is dead
    expect((await api("PUT", "/jobs/502", { token: took.token, state: "success" }, {})).status).toBe(200);
    expect(gl.jobs.get(502)!.status).toBe("success");
  });
});
