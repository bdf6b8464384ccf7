import type { DomainEvent, JobSource } from "@oneshot/proto";
import type { Decision, JobHistory } from "./job-history.js";
import { parseLabels, type SizeDefaults } from "./labels.js";

/** The fields of a `workflow_job` delivery ingest reads (reference/github-gitlab.md). */
export interface WorkflowJobPayload {
  action: string;
  workflow_job: {
    id: number;
    run_id: number;
    run_attempt?: number;
    labels: string[];
    runner_name?: string | null;
    runner_id?: number | null;
    status?: string;
    conclusion?: string | null;
  };
  repository: { full_name: string; owner: { login: string; type?: string } };
  organization?: { login: string };
  installation?: { id: number };
}

export interface JobDefaults extends SizeDefaults {
  diskGiB: number;
  timeoutSec: number;
  image: string;
}

export const githubJobId = (p: WorkflowJobPayload) => `gh-${p.workflow_job.id}`;

const CONCLUSIONS = new Set(["success", "failure", "cancelled", "skipped", "timed_out", "neutral", "action_required", "stale"]);

export function githubSource(p: WorkflowJobPayload): JobSource {
  const j = p.workflow_job;
  return {
    provider: "github",
    repo: p.repository.full_name,
    org: p.organization?.login ?? p.repository.owner.login,
    providerJobId: String(j.id),
    runId: String(j.run_id),
    ...(j.run_attempt ? { runAttempt: j.run_attempt } : {}),
    labels: j.labels.map((l) => l.toLowerCase()).slice(0, 100),
    ...(p.installation ? { installationId: p.installation.id } : {}),
    ownerType: p.organization || p.repository.owner.type === "Organization" ? "Organization" : "User",
  };
}

/**
 * A workflow_job delivery + the job's history → at most one event. State only moves forward:
 * a late or repeated `queued` after anything else is a no-op; `completed` before `queued` is
 * stored (a late `queued` then boots nothing); a job that was never ours is recorded once as
 * JobIgnored and otherwise left alone.
 */
export function decideGithub(p: WorkflowJobPayload, h: JobHistory, d: JobDefaults): Decision {
  const jobId = githubJobId(p);
  const source = githubSource(p);
  const size = parseLabels(p.workflow_job.labels, d);
  if (!size.ok) {
    if (h.ignored || h.queued) return { note: `not ours: ${size.reason} (already recorded)` };
    return { append: { type: "JobIgnored", data: { jobId, source, reason: size.reason } }, note: `ignored: ${size.reason}` };
  }
  switch (p.action) {
    case "queued": {
      if (h.queued || h.ended || h.ignored) return { note: "already known: state only moves forward" };
      const event: DomainEvent = {
        type: "JobQueued",
        data: { jobId, source, spec: { arch: size.arch, vcpus: size.vcpus, memMiB: size.memMiB, diskGiB: d.diskGiB, image: d.image, timeoutSec: d.timeoutSec } },
      };
      return { append: event, note: "queued" };
    }
    case "waiting":
      // An environment gate: the job waits for approval. Nothing to boot until it is queued.
      return { note: "waiting for approval" };
    case "in_progress": {
      if (h.started || h.ended) return { note: "already started" };
      const runnerName = p.workflow_job.runner_name ?? undefined;
      return { append: { type: "JobStarted", data: { jobId, ...(runnerName ? { runnerName } : {}) } }, note: "started" };
    }
    case "completed": {
      if (h.ended) return { note: "already ended" };
      const c = p.workflow_job.conclusion ?? "cancelled";
      if (c === "cancelled" && !h.started) {
        return { append: { type: "JobCancelled", data: { jobId, reason: "cancelled before it started" } }, note: "cancelled" };
      }
      const conclusion = (CONCLUSIONS.has(c) ? c : "neutral") as "success";
      return { append: { type: "JobCompleted", data: { jobId, conclusion, exitCode: null, reportedBy: "provider" } }, note: `completed (${c})` };
    }
    default:
      return { note: `action ${JSON.stringify(p.action)} is not handled` };
  }
}
