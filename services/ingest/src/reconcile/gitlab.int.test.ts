import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { subjects } from "@oneshot/proto";
import { ensureKv } from "@oneshot/runtime";
import { natsAvailability, startFakeGitLab, type FakeGitLab } from "@oneshot/testing";
import { capturingLogger, startIngest, type IngestUnderTest } from "../../test/harness.js";
import { gitlabReconcileClient } from "../providers/gitlab/reconcile-api-client.js";
import { GITLAB_RUNNERS_BUCKET, kvRunnerRegistry } from "../providers/gitlab/runners.js";
import { apiCaller } from "./api-call.js";
import { CallBudget } from "./budget.js";
import { startReconciler } from "./loop.js";
import { reconcileMetrics } from "./metrics.js";

const nats = natsAvailability();
const TOKEN = "glpat-reconcile-test";

describe.skipIf(nats.kind === "none")(`reconciler against the GitLab stand-in${nats.kind === "none" ? ` (skipped: ${nats.reason})` : ""}`, () => {
  let t: IngestUnderTest;
  let gl: FakeGitLab;
  beforeAll(async () => {
    t = await startIngest();
    gl = await startFakeGitLab({ token: TOKEN });
  });
  afterAll(async () => {
    await gl?.close();
    await t?.close();
  });

  it("VmIdle: a runner running a job is busy (no VmRetired); an idle one is deleted and forgotten → VmRetired", async () => {
    const registry = kvRunnerRegistry(await ensureKv(t.nats, GITLAB_RUNNERS_BUCKET));
    const metrics = reconcileMetrics(new Registry());
    const call = apiCaller({
      budget: new CallBudget({ requestsPerHour: 2000, pointsPerMinute: 300 }),
      metrics,
      maxConcurrency: 2,
      maxWaitMs: 1000,
      timeoutMs: 5000,
    });
    const gitlab = gitlabReconcileClient({ baseUrl: gl.url, token: TOKEN, call, runners: registry });
    const mk = async (description: string, tags: string[]) => {
      const r = await fetch(`${gl.url}/api/v4/user/runners`, {
        method: "POST",
        headers: { "private-token": TOKEN, "content-type": "application/json" },
        body: JSON.stringify({ runner_type: "project_type", project_id: 9, tag_list: tags, description }),
      });
      return (await r.json()) as { id: number; token: string };
    };
    const source = (id: string) => ({ provider: "gitlab" as const, repo: "acme/widgets", org: "acme", providerJobId: id, labels: ["oneshot"], projectId: 9 });
    for (const id of ["701", "702"]) {
      await t.store.append(
        {
          type: "JobQueued",
          data: { jobId: `gl-${id}`, source: source(id), spec: { arch: "amd64", vcpus: 2, memMiB: 2048, diskGiB: 10, image: "full", timeoutSec: 600 } },
        },
        { correlationId: `c-${id}` },
      );
    }
    const idle = await mk("oneshot-h7-vma", ["oneshot-a"]);
    const busy = await mk("oneshot-h7-vmb", ["oneshot-b"]);
    await registry.remember("gl-701", idle.id);
    await registry.remember("gl-702", busy.id);
    // The busy runner took a job the log knows nothing of (its hook was lost).
    gl.queueJob({ id: 9901, projectId: 9, tags: ["oneshot-b"] });
    expect(
      (
        await fetch(`${gl.url}/api/v4/jobs/request`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ token: busy.token }),
        })
      ).status,
    ).toBe(201);
    for (const [vmId, jobId] of [
      ["vma", "gl-701"],
      ["vmb", "gl-702"],
    ] as const) {
      await t.store.append(
        { type: "VmIdle", data: { hostId: "h7", vmId, bootedForJobId: jobId, runnerName: `oneshot-h7-${vmId}`, reason: "idle deadline", candidateJobIds: [] } },
        { correlationId: `c-${vmId}` },
      );
    }
    const log = capturingLogger();
    const rec = await startReconciler({
      store: t.store,
      log: log.log,
      metrics,
      apis: { gitlab },
      isLeader: () => true,
      clock: Date.now,
      onFatal: (e) => {
        throw e;
      },
      options: { intervalMs: 3600_000, staleAfterMs: 3600_000, maxChecksPerTick: 10, deliveriesLookbackMs: 0, deliveriesMaxPages: 1, idleDelayMs: 3600_000 },
    });
    await rec.tick();
    await rec.reached(await t.store.lastStreamSeq());
    const host = (await t.store.readAggregate(subjects.host("h7"))).events.filter((e) => e.type === "VmRetired");
    expect(host.map((e) => (e.data as { vmId: string }).vmId)).toEqual(["vma"]);
    expect((host[0]!.data as { reason: string }).reason).toMatch(/DELETE \/runners\/\d+: 204/);
    expect(gl.runners.has(idle.id)).toBe(false);
    expect(gl.runners.has(busy.id)).toBe(true);
    expect(await registry.ids("gl-701")).toEqual([]);
    expect(log.lines.join("")).toMatch(/running job 9901/);
    expect(log.lines.join("")).not.toContain(TOKEN);
    await rec.stop();
  });
});
