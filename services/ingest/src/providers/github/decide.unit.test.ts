import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decideGithub } from "./decide.js";
import type { JobDefaults } from "../shared/job-spec.js";
import { WorkflowJobPayload } from "./payload.js";
import { emptyHistory, type JobHistory } from "../shared/job-history.js";

const d: JobDefaults = { vcpus: 2, memGiB: 4, arch: "amd64", maxVcpus: 32, maxMemGiB: 128, diskGiB: 20, timeoutSec: 3600, image: "full" };
const fixture = (action: string) =>
  JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "..", "test", "fixtures", `workflow_job.${action}.json`), "utf8")) as Record<string, unknown>;
/** A real-shaped delivery (test/fixtures), parsed as the route parses it, with the job patched. */
const delivery = (action: string, job: Record<string, unknown> = {}, top: Record<string, unknown> = {}) => {
  const raw = fixture(action === "waiting" || action === "queued" || action === "in_progress" ? action : "completed");
  return WorkflowJobPayload.parse({ ...raw, ...top, action, workflow_job: { ...(raw.workflow_job as object), ...job } });
};
const given = (h: Partial<JobHistory> = {}): JobHistory => ({ ...emptyHistory(), ...h });

describe("GitHub workflow_job → at most one event (given history, when a delivery, then…)", () => {
  it("every fixture parses as a workflow_job payload", () => {
    for (const a of ["queued", "waiting", "in_progress", "completed"]) expect(WorkflowJobPayload.safeParse(fixture(a)).success, a).toBe(true);
  });

  it("queued on a new job → JobQueued with the labelled size, source and defaults", () => {
    const r = decideGithub(delivery("queued"), given(), d);
    expect(r.append).toEqual({
      type: "JobQueued",
      data: {
        jobId: "gh-29679449",
        spec: { arch: "amd64", vcpus: 2, memMiB: 2048, diskGiB: 20, image: "full", timeoutSec: 3600 },
        source: {
          provider: "github",
          repo: "acme/widgets",
          org: "acme",
          providerJobId: "29679449",
          runId: "10371460",
          runAttempt: 1,
          labels: ["self-hosted", "oneshot-2cpu-2gb"],
          installationId: 42,
          ownerType: "Organization",
        },
      },
    });
  });

  it.each([
    ["a redelivery or an environment gate's second queued", { queued: true }],
    ["queued after completed (out of order)", { ended: true }],
    ["queued after in_progress (out of order)", { started: true }],
  ])("%s → nothing", (_, h) => {
    expect(decideGithub(delivery("queued"), given(h), d).append).toBeUndefined();
  });

  it("waiting (environment gate) → nothing to boot yet, whatever the history", () => {
    expect(decideGithub(delivery("waiting"), given(), d)).toEqual({ note: "waiting for approval" });
    expect(decideGithub(delivery("waiting"), given({ queued: true }), d).append).toBeUndefined();
  });

  it("in_progress → JobStarted naming our VM from the runner name, once", () => {
    const p = delivery("in_progress", { runner_name: "oneshot-metal-01-k2x9q0a1bc" });
    expect(decideGithub(p, given({ queued: true }), d).append).toEqual({
      type: "JobStarted",
      data: { jobId: "gh-29679449", runnerName: "oneshot-metal-01-k2x9q0a1bc", hostId: "metal-01", vmId: "k2x9q0a1bc", reportedBy: "webhook" },
    });
    expect(decideGithub(p, given({ queued: true, started: true }), d).append).toBeUndefined();
    // Late, after its completion: still stored, it is the one record of which VM ran the job.
    expect(decideGithub(p, given({ ended: true }), d)).toMatchObject({
      append: { type: "JobStarted", data: { vmId: "k2x9q0a1bc" } },
      note: "started (late: already ended)",
    });
    expect(decideGithub(p, given({ ended: true, started: true }), d).append).toBeUndefined();
  });

  it("in_progress on someone else's runner name → JobStarted without a VM", () => {
    expect(decideGithub(delivery("in_progress", { runner_name: "build-box-7" }), given({ queued: true }), d).append).toEqual({
      type: "JobStarted",
      data: { jobId: "gh-29679449", runnerName: "build-box-7", reportedBy: "webhook" },
    });
  });

  it("completed before queued is stored; the late queued then boots nothing", () => {
    const done = decideGithub(delivery("completed", { conclusion: "success", runner_name: null }), given(), d);
    expect(done.append).toEqual({ type: "JobCompleted", data: { jobId: "gh-29679449", conclusion: "success", exitCode: null, reportedBy: "provider" } });
    expect(decideGithub(delivery("queued"), given({ ended: true }), d).append).toBeUndefined();
  });

  it("cancelled before any runner took it → JobCancelled; after a start → JobCompleted(cancelled)", () => {
    const cancelled = delivery("completed", { conclusion: "cancelled", runner_id: null, runner_name: null });
    expect(decideGithub(cancelled, given({ queued: true }), d).append).toEqual({
      type: "JobCancelled",
      data: { jobId: "gh-29679449", reason: "cancelled before it started" },
    });
    expect(decideGithub(cancelled, given({ queued: true, started: true }), d).append).toMatchObject({
      type: "JobCompleted",
      data: { conclusion: "cancelled" },
    });
    // A runner id means a runner took it even if its in_progress never reached us.
    expect(decideGithub(delivery("completed", { conclusion: "cancelled", runner_id: 7, runner_name: null }), given({ queued: true }), d).append?.type).toBe(
      "JobCompleted",
    );
  });

  it("completed naming a runner we never saw start → JobStarted first (which VM ran it), then JobCompleted", () => {
    const p = delivery("completed", { conclusion: "success", runner_id: 7, runner_name: "oneshot-metal-01-k2x9q0a1bc" });
    expect(decideGithub(p, given({ queued: true }), d)).toEqual({
      append: {
        type: "JobStarted",
        data: { jobId: "gh-29679449", runnerName: "oneshot-metal-01-k2x9q0a1bc", hostId: "metal-01", vmId: "k2x9q0a1bc", reportedBy: "webhook" },
      },
      note: "started (from its completion)",
      again: true,
    });
    expect(decideGithub(p, given({ queued: true, started: true }), d).append).toMatchObject({ type: "JobCompleted", data: { conclusion: "success" } });
  });

  it("completed twice → stored once; an unknown conclusion → neutral", () => {
    expect(decideGithub(delivery("completed"), given({ ended: true }), d).append).toBeUndefined();
    expect(decideGithub(delivery("completed", { conclusion: "exploded" }), given({ queued: true, started: true }), d).append).toMatchObject({
      data: { conclusion: "neutral" },
    });
  });

  it("a job that was never ours (GitHub-hosted, no oneshot label) is recorded once as JobIgnored with the reason", () => {
    const hosted = delivery("completed", { labels: ["ubuntu-latest"], conclusion: "success", runner_id: null, runner_name: "GitHub Actions 2" });
    expect(decideGithub(hosted, given(), d).append).toMatchObject({
      type: "JobIgnored",
      data: { jobId: "gh-29679449", reason: "no oneshot label", source: { labels: ["ubuntu-latest"] } },
    });
    expect(decideGithub(hosted, given({ ignored: true }), d).append).toBeUndefined();
  });

  it("conflicting or oversized labels → JobIgnored with the reason, never after the job was queued", () => {
    const conflict = delivery("queued", { labels: ["oneshot-2cpu-4gb", "oneshot-4cpu-8gb"] });
    expect(decideGithub(conflict, given(), d).append).toMatchObject({ type: "JobIgnored", data: { reason: expect.stringMatching(/conflicting/) } });
    const huge = delivery("queued", { labels: ["oneshot-64cpu-8gb"] });
    expect(decideGithub(huge, given(), d).append).toMatchObject({ type: "JobIgnored", data: { reason: expect.stringMatching(/above the cap/) } });
    // Caps lowered after the job was queued: the queued job is not retracted.
    expect(decideGithub(huge, given({ queued: true }), d).append).toBeUndefined();
  });

  it("a re-run is a new job id with a higher run_attempt: a new JobQueued", () => {
    const rerun = delivery("queued", { id: 29679999, run_attempt: 2 });
    expect(decideGithub(rerun, given(), d).append).toMatchObject({ type: "JobQueued", data: { jobId: "gh-29679999", source: { runAttempt: 2 } } });
  });

  it("a user-owned repo is marked so the broker mints a repo-level runner", () => {
    const p = delivery("queued", {}, { organization: undefined, repository: { full_name: "alice/dots", owner: { login: "alice", type: "User" } } });
    expect(decideGithub(p, given(), d).append).toMatchObject({ data: { source: { org: "alice", repo: "alice/dots", ownerType: "User" } } });
  });

  it("a delivery that did not come through the App (no installation id) → JobIgnored: no runner could be minted", () => {
    const p = delivery("queued", {}, { installation: undefined });
    expect(decideGithub(p, given(), d).append).toMatchObject({
      type: "JobIgnored",
      data: { reason: expect.stringMatching(/without a GitHub App installation id/) },
    });
  });

  it("an unknown action → nothing", () => {
    expect(decideGithub(delivery("requested"), given(), d)).toEqual({ note: 'action "requested" is not handled' });
  });
});
