import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing, startFakeGitLab, waitFor, type FakeGitLab } from "@oneshot/testing";
import { GITLAB_TOKEN, jobHook, postGitlab, startIngest, type IngestUnderTest } from "../../../test/harness.js";
import { gitlabApi } from "./api.js";

const skip = missing("nats");
const runner = (description: string) => ({
  runner: { active: true, runner_type: "project_type", is_shared: false, id: 380987, description, tags: ["oneshot-2cpu-4gb"] },
});

describe.skipIf(skip)("POST /webhooks/gitlab (real nats-server, GitLab API stand-in for job tags)", () => {
  let t: IngestUnderTest;
  let gitlab: FakeGitLab;
  beforeAll(async () => {
    gitlab = await startFakeGitLab({ token: "glpat-api" });
    const api = gitlabApi({ baseUrl: gitlab.url, token: "glpat-api" });
    t = await startIngest({
      gitlabTags: api.jobTags,
      env: { INGEST_STORE_TIMEOUT_MS: "1500" },
      gitlabRunners: { createRunner: api.createRunner, deleteRunner: api.deleteRunner, remember: async () => undefined },
    });
  });
  afterAll(async () => {
    await t?.close();
    await gitlab?.close();
  });

  it("checks the token in constant time and stores nothing without it", async () => {
    const before = await t.lastSeq();
    gitlab.setJobTags(380, 2001, ["oneshot-2cpu-4gb"]);
    for (const token of ["nope", `${GITLAB_TOKEN}x`, GITLAB_TOKEN.slice(1), ""])
      expect((await postGitlab(t.base, jobHook("pending", 2001), { token })).status, token).toBe(401);
    const noHeader = await fetch(`${t.base}/webhooks/gitlab`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-gitlab-event": "Job Hook" },
      body: jobHook("pending", 2001),
    });
    expect(noHeader.status).toBe(401);
    expect(await t.lastSeq()).toBe(before);
  });

  it("boots on pending only, with the tags from the API, and follows running and success forward", async () => {
    gitlab.setJobTags(380, 2002, ["docker", "oneshot-arm64-2cpu-4gb"]);
    expect((await postGitlab(t.base, jobHook("created", 2002))).status).toBe(202);
    expect(await t.history("gl-2002")).toEqual([]);
    const key = "2ae7d1ec-d7a2-4b1a-b7f7-0b1e9b9c2d11";
    expect((await postGitlab(t.base, jobHook("pending", 2002), { key })).status).toBe(202);
    expect((await postGitlab(t.base, jobHook("pending", 2002), { key })).status).toBe(202); // GitLab's retry
    expect((await postGitlab(t.base, jobHook("running", 2002, runner("oneshot-metal-02-abcde12345")))).status).toBe(202);
    expect((await postGitlab(t.base, jobHook("success", 2002, runner("oneshot-metal-02-abcde12345")))).status).toBe(202);
    expect((await postGitlab(t.base, jobHook("pending", 2002))).status).toBe(202);
    const events = await t.events("gl-2002");
    expect(events.map((e) => e.type)).toEqual(["JobQueued", "JobStarted", "JobCompleted"]);
    expect(events[0]).toMatchObject({
      correlationId: key,
      data: { spec: { arch: "arm64", vcpus: 2, memMiB: 4096 }, source: { provider: "gitlab", projectId: 380, labels: ["docker", "oneshot-arm64-2cpu-4gb"] } },
    });
    expect(events[1]!.data).toMatchObject({ vmId: "abcde12345", hostId: "metal-02" });
    expect(gitlab.calls.filter((c) => c.path === "/api/v4/projects/380/jobs/2002")).toHaveLength(1);
  });

  it("records a job without oneshot tags, or unknown to the API, as ignored, once", async () => {
    gitlab.setJobTags(380, 2003, ["docker"]);
    await postGitlab(t.base, jobHook("pending", 2003));
    await postGitlab(t.base, jobHook("running", 2003));
    await postGitlab(t.base, jobHook("success", 2003));
    await postGitlab(t.base, jobHook("pending", 2004)); // the API has no such job: 404
    expect((await t.events("gl-2003")).map((e) => [e.type, (e.data as { reason?: string }).reason])).toEqual([["JobIgnored", "no oneshot label"]]);
    expect((await t.events("gl-2004")).map((e) => [e.type, (e.data as { reason?: string }).reason])).toEqual([
      ["JobIgnored", "GitLab has no job 2004 in project 380 (404)"],
    ]);
  });

  it("stores cancelled-before-start, and an end that comes first so the late pending boots nothing", async () => {
    gitlab.setJobTags(380, 2005, ["oneshot"]);
    await postGitlab(t.base, jobHook("pending", 2005));
    await postGitlab(t.base, jobHook("canceled", 2005));
    gitlab.setJobTags(380, 2006, ["oneshot"]);
    await postGitlab(t.base, jobHook("failed", 2006, runner("someone-else")));
    await postGitlab(t.base, jobHook("pending", 2006));
    expect(await t.history("gl-2005")).toEqual(["JobQueued", "JobCancelled"]);
    expect(await t.history("gl-2006")).toEqual(["JobCompleted"]);
  });

  it("queues a retry (new build_id, higher retries_count) as a new job", async () => {
    gitlab.setJobTags(380, 2008, ["oneshot"]);
    await postGitlab(t.base, jobHook("pending", 2008, { retries_count: 1 }));
    expect((await t.events("gl-2008"))[0]).toMatchObject({ type: "JobQueued", data: { source: { runAttempt: 2 } } });
  });

  it("answers 503 while the GitLab API fails, so GitLab delivers again; then stores once", async () => {
    gitlab.setJobTags(380, 2007, ["oneshot"]);
    gitlab.failNext(502, 100);
    const key = "5d8c6a4e-0b7e-4d8e-9a51-3f0c1b2a4e77";
    expect((await postGitlab(t.base, jobHook("pending", 2007), { key })).status).toBe(503);
    expect(await t.history("gl-2007")).toEqual([]);
    gitlab.failNext(502, 0);
    expect((await postGitlab(t.base, jobHook("pending", 2007), { key })).status).toBe(202);
    expect(await t.history("gl-2007")).toEqual(["JobQueued"]);
  });

  it("gives a 4xx only for a wrong token or a malformed Job Hook; anything else authentic is 202", async () => {
    const before = await t.lastSeq();
    expect((await postGitlab(t.base, JSON.stringify({ object_kind: "pipeline" }), { event: "Pipeline Hook" })).status).toBe(202);
    expect((await postGitlab(t.base, JSON.stringify({ object_kind: "build", build_id: "x" }))).status).toBe(400);
    expect((await postGitlab(t.base, "{")).status).toBe(400);
    expect((await postGitlab(t.base, JSON.stringify({ pad: "x".repeat(70_000) }))).status).toBe(413);
    expect(await t.lastSeq()).toBe(before);
  });

  it("deletes one of our runners as soon as GitLab says it picked a job (its token dies), and never anyone else's", async () => {
    const make = async (description: string) =>
      (await (
        await fetch(`${gitlab.url}/api/v4/user/runners`, {
          method: "POST",
          headers: { "private-token": "glpat-api", "content-type": "application/json" },
          body: JSON.stringify({ runner_type: "project_type", project_id: 380, tag_list: ["oneshot"], description }),
        })
      ).json()) as { id: number; token: string };
    const ours = await make("oneshot-metal-02-pick000001");
    const theirs = await make("team-shared-runner");
    for (const [id, r] of [
      [2101, ours],
      [2102, theirs],
    ] as const) {
      gitlab.setJobTags(380, id, ["oneshot"]);
      await postGitlab(t.base, jobHook("pending", id));
      const hook = jobHook("running", id, {
        runner: { id: r.id, description: id === 2101 ? "oneshot-metal-02-pick000001" : "team-shared-runner", active: true, is_shared: false },
      });
      expect((await postGitlab(t.base, hook)).status).toBe(202);
    }
    await waitFor("our runner to be deleted", () => !gitlab.runners.has(ours.id), 10_000);
    expect(gitlab.runners.has(theirs.id)).toBe(true);
    // The token no longer works: a job that read it cannot ask GitLab for another job.
    const again = await fetch(`${gitlab.url}/api/v4/jobs/request`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: ours.token }),
    });
    expect(again.status).toBe(403);
    expect((await t.events("gl-2101")).map((e) => e.type)).toEqual(["JobQueued", "JobStarted"]);
  });
});
