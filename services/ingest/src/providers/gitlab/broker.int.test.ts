import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureKv, newEventId, type EventStore, type Nats } from "@oneshot/runtime";
import { connectTest, missing, startFakeGitLab, startNats, waitFor, type FakeGitLab, type TestNats } from "@oneshot/testing";
import { queueJob, registerHost, type FakeHost } from "../../../test/broker-harness.js";
import { capturingLogger } from "../../../test/harness.js";
import { ingestMetrics } from "../../metrics.js";
import { RunnerLaunch } from "@oneshot/proto";
import { providerMap } from "../registry.js";
import { gitlabApi } from "./api.js";
import { GITLAB_RUNNER_WRAPPER } from "./launch.js";
import { gitlabProvider } from "./provider.js";
import { GITLAB_RUNNERS_BUCKET, kvRunnerRegistry, startGitlabCleanup, type RunnerRegistry } from "./runners.js";
import { startRunnerBroker, type Broker } from "../../broker/runner-broker.js";

const skip = missing("nats");

describe.skipIf(skip)("runner-config broker for GitLab jobs, and runner cleanup (real NATS, GitLab API stand-in)", () => {
  let server: TestNats;
  let nats: Nats;
  let store: EventStore;
  let close: () => Promise<void>;
  let gitlab: FakeGitLab;
  let host: FakeHost;
  let registry: RunnerRegistry;
  let broker: Broker;
  let cleanup: { stop: () => Promise<void> };
  const logs = capturingLogger();
  const start = () => {
    const api = gitlabApi({ baseUrl: gitlab.url, token: "glpat-api" });
    return startRunnerBroker({
      nats,
      store,
      log: logs.log,
      metrics: ingestMetrics(new Registry()),
      newId: newEventId,
      providers: providerMap([
        gitlabProvider({
          url: gitlab.url,
          jobTags: api.jobTags,
          runners: { createRunner: api.createRunner, refProtected: api.refProtected, deleteRunner: api.deleteRunner, remember: registry.remember },
        }),
      ]),
    });
  };
  beforeAll(async () => {
    server = await startNats();
    ({ nats, store, close } = await connectTest(server.url));
    gitlab = await startFakeGitLab({ token: "glpat-api" });
    registry = kvRunnerRegistry(await ensureKv(nats, GITLAB_RUNNERS_BUCKET));
    host = await registerHost(nats, store, "metal-02");
    broker = start();
    cleanup = await startGitlabCleanup({ nats, registry, log: logs.log, deleteRunner: gitlabApi({ baseUrl: gitlab.url, token: "glpat-api" }).deleteRunner });
  });
  afterAll(async () => {
    await cleanup?.stop();
    await broker?.drain();
    await gitlab?.close();
    await close?.();
    await server?.dispose();
  });

  it("creates a one-job project runner with the job's tags, sealed to the host, and deletes it when the job ends", async () => {
    await queueJob(store, "gl-1977", { provider: "gitlab", projectId: 380, labels: ["oneshot-2cpu-4gb", "docker"] });
    const vmId = await host.accept("gl-1977");
    const r = await host.ask("gl-1977", vmId);
    const runnerName = `oneshot-metal-02-${vmId}`;
    expect(r).toMatchObject({ ok: true, provider: "gitlab", runnerName });
    if (!r.ok) return;
    const launch = RunnerLaunch.parse(JSON.parse(host.open(r.sealed)));
    const token = launch.env.CI_SERVER_TOKEN!;
    expect(token).toMatch(/^glrt-/);
    expect(launch).toEqual({
      argv: ["/bin/sh", "-c", GITLAB_RUNNER_WRAPPER, "oneshot-gitlab-runner"],
      env: { CI_SERVER_URL: gitlab.url, CI_SERVER_TOKEN: token, RUNNER_NAME: runnerName },
      user: "runner",
    });
    expect(launch.argv.join(" ")).not.toContain(token);
    const [runnerId] = [...gitlab.runners].find(([, v]) => v.token === token) ?? [];
    const opened = { runnerId: runnerId! };
    // GitLab knows no job 1977 here, so it cannot say whether its ref is protected: any ref.
    expect(gitlab.runners.get(opened.runnerId)).toEqual({
      token,
      projectId: 380,
      tags: ["oneshot-2cpu-4gb", "docker"],
      description: runnerName,
      accessLevel: "not_protected",
    });
    expect(gitlab.calls.find((c) => c.path === "/api/v4/user/runners")?.body).toMatchObject({
      runner_type: "project_type",
      project_id: 380,
      run_untagged: false,
      locked: true,
      access_level: "not_protected",
    });
    expect(await registry.ids("gl-1977")).toEqual([opened.runnerId]);

    await store.append(
      { type: "JobCompleted", data: { jobId: "gl-1977", conclusion: "success", exitCode: null, reportedBy: "provider" } },
      { correlationId: "hook" },
    );
    await waitFor("the runner to be deleted", async () => !gitlab.runners.has(opened.runnerId) && (await registry.ids("gl-1977")).length === 0, 15_000);
    expect(gitlab.calls.filter((c) => c.method === "DELETE")).toEqual([expect.objectContaining({ path: `/api/v4/runners/${opened.runnerId}`, status: 204 })]);
  });

  it("gives a job of a protected ref a ref_protected runner, and a job of another ref one that takes any ref", async () => {
    gitlab.queueJob({ id: 1990, projectId: 381, tags: ["oneshot"], ref: "main", protectedRef: true });
    gitlab.queueJob({ id: 1991, projectId: 381, tags: ["oneshot"], ref: "v1.2.0", tag: true, protectedRef: false });
    const levels: Record<string, string | undefined> = {};
    for (const id of ["gl-1990", "gl-1991"]) {
      await queueJob(store, id, { provider: "gitlab", projectId: 381, labels: ["oneshot"] });
      const vmId = await host.accept(id);
      const r = await host.ask(id, vmId);
      if (!r.ok) throw new Error(`no launch for ${id}`);
      const token = RunnerLaunch.parse(JSON.parse(host.open(r.sealed))).env.CI_SERVER_TOKEN;
      levels[id] = [...gitlab.runners.values()].find((v) => v.token === token)?.accessLevel;
    }
    expect(levels).toEqual({ "gl-1990": "ref_protected", "gl-1991": "not_protected" });
    expect(gitlab.calls.map((c) => c.path)).toEqual(
      expect.arrayContaining(["/api/v4/projects/381/repository/branches/main", "/api/v4/projects/381/repository/tags/v1.2.0"]),
    );
  });

  it("remembers every runner of a job (a retried boot after a restart) and deletes them all when it ends", async () => {
    await queueJob(store, "gl-1978", { provider: "gitlab", projectId: 380, labels: ["oneshot"] });
    const vmA = await host.accept("gl-1978", 0);
    const a = await host.ask("gl-1978", vmA);
    await broker.drain();
    broker = start(); // a restarted ingest: the reply cache is empty
    // The first VM's boot failed: the scheduler requeued the job, and placed attempt 1.
    await store.append(
      { type: "JobRequeued", data: { jobId: "gl-1978", fromHostId: host.hostId, vmId: vmA, reason: "boot failed", attempt: 1, releasesVm: false } },
      { correlationId: "sched" },
    );
    const vmB = await host.accept("gl-1978", 1);
    const b = await host.ask("gl-1978", vmB);
    expect(a.ok && b.ok).toBe(true);
    const ids = await registry.ids("gl-1978");
    expect(ids).toHaveLength(2);
    await store.append({ type: "JobFailed", data: { jobId: "gl-1978", reason: "boot failed 3 times" } }, { correlationId: "sched" });
    await waitFor("both runners to be deleted", () => ids.every((id) => !gitlab.runners.has(id)), 15_000);
  });

  it("refuses a job that has ended, and turns GitLab's refusals into typed errors", async () => {
    await queueJob(store, "gl-1979", { provider: "gitlab", projectId: 380, labels: ["oneshot"] });
    const vmId = await host.accept("gl-1979");
    gitlab.failNext(429);
    expect(await host.ask("gl-1979", vmId)).toMatchObject({ ok: false, code: "rate-limited", retryAfterSec: 20 });
    gitlab.failNext(403);
    expect(await host.ask("gl-1979", vmId)).toMatchObject({ ok: false, code: "not-configured" });
    gitlab.failNext(500);
    expect(await host.ask("gl-1979", vmId)).toMatchObject({ ok: false, code: "provider-error" });
    await store.append({ type: "JobCancelled", data: { jobId: "gl-1979", reason: "canceled before it started" } }, { correlationId: "hook" });
    const before = gitlab.runners.size;
    expect(await host.ask("gl-1979", vmId)).toMatchObject({ ok: false, code: "not-runnable" });
    expect(gitlab.runners.size).toBe(before);
  });

  it("never lets a runner token into the log or a log line", async () => {
    const all: string[] = [];
    await store.replay("evt.>", (e) => void all.push(JSON.stringify(e)));
    const text = [...all, ...logs.lines].join("\n");
    expect(gitlab.calls.filter((c) => c.path === "/api/v4/user/runners" && c.status === 201).length).toBeGreaterThan(2);
    // Every runner token starts with glrt-.
    expect(text).not.toMatch(/glrt-/);
    expect(text).not.toContain("glpat-api");
  });
});
