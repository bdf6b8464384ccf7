import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { JobDefaults } from "../shared/job-spec.js";
import { decideGitlab, gitlabNeedsTags } from "./decide.js";
import { GitlabJobPayload, type GitlabTags } from "./payload.js";
import { emptyHistory, type JobHistory } from "../shared/job-history.js";

const d: JobDefaults = { vcpus: 2, memGiB: 4, arch: "amd64", maxVcpus: 32, maxMemGiB: 128, diskGiB: 20, timeoutSec: 3600, image: "full" };
const raw = JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "..", "test", "fixtures", "gitlab.job.pending.json"), "utf8")) as Record<
  string,
  unknown
>;
const hook = (status: string, patch: Record<string, unknown> = {}) => GitlabJobPayload.parse({ ...raw, build_status: status, ...patch });
const given = (h: Partial<JobHistory> = {}): JobHistory => ({ ...emptyHistory(), ...h });
const ours: GitlabTags = { ok: true, tags: ["oneshot-2cpu-4gb", "docker"] };

describe("GitLab Job Hook → at most one event", () => {
  it("pending on a new job with oneshot tags → JobQueued", () => {
    expect(decideGitlab(hook("pending"), ours, given(), d).append).toEqual({
      type: "JobQueued",
      data: {
        jobId: "gl-1977",
        spec: { arch: "amd64", vcpus: 2, memMiB: 4096, diskGiB: 20, image: "full", timeoutSec: 3600 },
        source: {
          provider: "gitlab",
          repo: "acme/widgets",
          org: "acme",
          providerJobId: "1977",
          runId: "2366",
          runAttempt: 1,
          labels: ["oneshot-2cpu-4gb", "docker"],
          projectId: 380,
        },
      },
    });
  });

  it("needs the tags only for the first status stored of a job", () => {
    expect(gitlabNeedsTags(hook("pending"), given())).toBe(true);
    expect(gitlabNeedsTags(hook("success"), given())).toBe(true);
    expect(gitlabNeedsTags(hook("created"), given())).toBe(false);
    expect(gitlabNeedsTags(hook("running"), given({ queued: true }))).toBe(false);
    expect(gitlabNeedsTags(hook("pending"), given({ ignored: true }))).toBe(false);
  });

  it("records a job without oneshot tags, or whose tags cannot be had, as JobIgnored, once", () => {
    expect(decideGitlab(hook("pending"), { ok: true, tags: ["docker"] }, given(), d).append).toMatchObject({
      type: "JobIgnored",
      data: { reason: "no oneshot label" },
    });
    expect(decideGitlab(hook("pending"), { ok: false, reason: "GitLab has no job 1977 in project 380 (404)" }, given(), d).append).toMatchObject({
      type: "JobIgnored",
      data: { reason: /404/ },
    });
    expect(decideGitlab(hook("success"), undefined, given({ ignored: true }), d).append).toBeUndefined();
  });

  it("boots only on pending: created, manual, scheduled… record nothing", () => {
    for (const s of ["created", "waiting_for_resource", "preparing", "manual", "scheduled"])
      expect(decideGitlab(hook(s), undefined, given(), d).append, s).toBeUndefined();
    expect(decideGitlab(hook("bogus"), undefined, given(), d).append).toBeUndefined();
  });

  it("moves forward only: running → JobStarted once; the end once; a late pending → nothing", () => {
    const running = hook("running", { runner: { id: 9, description: "oneshot-metal-02-glvm000001" } });
    expect(decideGitlab(running, undefined, given({ queued: true }), d).append).toEqual({
      type: "JobStarted",
      data: { jobId: "gl-1977", runnerName: "oneshot-metal-02-glvm000001", hostId: "metal-02", vmId: "glvm000001", reportedBy: "webhook" },
    });
    expect(decideGitlab(running, undefined, given({ queued: true, started: true }), d).append).toBeUndefined();
    expect(decideGitlab(hook("failed", { runner: { id: 9 } }), undefined, given({ queued: true, started: true }), d).append).toMatchObject({
      type: "JobCompleted",
      data: { conclusion: "failure" },
    });
    expect(decideGitlab(hook("success"), undefined, given({ queued: true, ended: true }), d).append).toBeUndefined();
    expect(decideGitlab(hook("pending"), undefined, given({ queued: true, ended: true }), d).append).toBeUndefined();
  });

  it("an end that arrives before pending is stored (when ours), so the late pending boots nothing", () => {
    expect(decideGitlab(hook("success", { runner: { id: 9 } }), ours, given(), d).append).toMatchObject({
      type: "JobCompleted",
      data: { conclusion: "success" },
    });
    expect(decideGitlab(hook("running"), ours, given(), d).append?.type).toBe("JobStarted");
  });

  it("canceled before a runner took it → JobCancelled", () => {
    expect(decideGitlab(hook("canceled", { runner: null }), undefined, given({ queued: true }), d).append).toEqual({
      type: "JobCancelled",
      data: { jobId: "gl-1977", reason: "canceled before it started" },
    });
  });

  it("a retry is a new build_id with a higher retries_count", () => {
    expect(decideGitlab(hook("pending", { build_id: 1978, retries_count: 1 }), ours, given(), d).append).toMatchObject({
      type: "JobQueued",
      data: { jobId: "gl-1978", source: { runAttempt: 2 } },
    });
  });
});
