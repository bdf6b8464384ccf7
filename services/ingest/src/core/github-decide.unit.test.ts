import { describe, expect, it } from "vitest";
import { decideGithub, type JobDefaults, type WorkflowJobPayload } from "./github-decide.js";
import type { JobHistory } from "./job-history.js";

const d: JobDefaults = { vcpus: 2, memGiB: 4, arch: "amd64", maxVcpus: 32, maxMemGiB: 128, diskGiB: 20, timeoutSec: 3600, image: "full" };
const fresh: JobHistory = { lastSeq: 0, queued: false, ignored: false, started: false, ended: false };
const payload = (action: string, o: Partial<WorkflowJobPayload["workflow_job"]> = {}): WorkflowJobPayload => ({
  action,
  workflow_job: { id: 29679449, run_id: 10371460, run_attempt: 1, labels: ["self-hosted", "oneshot-2cpu-2gb"], runner_name: null, runner_id: null, conclusion: null, ...o },
  repository: { full_name: "acme/widgets", owner: { login: "acme", type: "Organization" } },
  organization: { login: "acme" },
  installation: { id: 42 },
});

describe("GitHub workflow_job → events (given history, when a delivery, then at most one event)", () => {
  it("queued on a fresh job → JobQueued with the labelled size", () => {
    const r = decideGithub(payload("queued"), fresh, d);
    expect(r.append).toMatchObject({ type: "JobQueued", data: { jobId: "gh-29679449", spec: { vcpus: 2, memMiB: 2048, arch: "amd64" }, source: { org: "acme", installationId: 42, ownerType: "Organization" } } });
  });
  it("a second queued (redelivery or environment gate) → nothing", () => {
    expect(decideGithub(payload("queued"), { ...fresh, queued: true }, d).append).toBeUndefined();
  });
  it("waiting → nothing to boot yet", () => {
    expect(decideGithub(payload("waiting"), fresh, d).append).toBeUndefined();
  });
  it("in_progress → JobStarted with the runner name, once", () => {
    expect(decideGithub(payload("in_progress", { runner_name: "oneshot-h1-abc" }), { ...fresh, queued: true }, d).append)
      .toEqual({ type: "JobStarted", data: { jobId: "gh-29679449", runnerName: "oneshot-h1-abc" } });
    expect(decideGithub(payload("in_progress"), { ...fresh, queued: true, started: true }, d).append).toBeUndefined();
  });
  it("completed before queued is stored, and a late queued then boots nothing", () => {
    const done = decideGithub(payload("completed", { conclusion: "success" }), fresh, d);
    expect(done.append).toMatchObject({ type: "JobCompleted", data: { conclusion: "success", reportedBy: "provider" } });
    expect(decideGithub(payload("queued"), { ...fresh, ended: true }, d).append).toBeUndefined();
  });
  it("cancelled before it started → JobCancelled", () => {
    expect(decideGithub(payload("completed", { conclusion: "cancelled" }), { ...fresh, queued: true }, d).append?.type).toBe("JobCancelled");
  });
  it("a job that was never ours is recorded once as JobIgnored with the reason", () => {
    const hosted = payload("completed", { labels: ["ubuntu-latest"], conclusion: "success" });
    expect(decideGithub(hosted, fresh, d).append).toMatchObject({ type: "JobIgnored", data: { reason: "no oneshot label" } });
    expect(decideGithub(hosted, { ...fresh, ignored: true }, d).append).toBeUndefined();
  });
  it("a user-owned repo is marked so the broker mints a repo-level runner", () => {
    const p = { ...payload("queued"), organization: undefined, repository: { full_name: "alice/dots", owner: { login: "alice", type: "User" } } };
    expect(decideGithub(p, fresh, d).append).toMatchObject({ data: { source: { org: "alice", ownerType: "User" } } });
  });
});
