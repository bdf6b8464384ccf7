import type { JobSource } from "@oneshot/proto";
import { isNew, type Decision, type JobHistory } from "../shared/job-history.js";
import { specFrom, storedLabels, type JobDefaults } from "../shared/job-spec.js";
import { parseLabels } from "../shared/labels.js";
import { started } from "../shared/started.js";
import type { WorkflowJobPayload } from "./payload.js";

export const githubJobId = (p: WorkflowJobPayload) => `gh-${p.workflow_job.id}`;

const CONCLUSIONS = new Set(["success", "failure", "cancelled", "skipped", "timed_out", "neutral", "action_required", "stale"]);

export function githubSource(p: WorkflowJobPayload): JobSource {
  const j = p.workflow_job;
  const ownerType = p.organization || p.repository.owner.type === "Organization" ? "Organization" : "User";
  return {
    provider: "github",
    repo: p.repository.full_name,
    org: p.organization?.login ?? p.repository.owner.login,
    providerJobId: String(j.id),
    runId: String(j.run_id),
    ...(j.run_attempt ? { runAttempt: j.run_attempt } : {}),
    labels: storedLabels(j.labels),
    ...(p.installation ? { installationId: p.installation.id } : {}),
    ownerType,
  };
}

/**
 * A workflow_job delivery + the job's own history → at most one event. Pure.
 *
 * State only moves forward (queued < started < ended): a repeated or late `queued` after
 * anything else stores nothing; `completed` before `queued` is stored, so the late `queued`
 * boots nothing. A job that is not ours is recorded once as JobIgnored with the reason.
 */
export function decideGithub(p: WorkflowJobPayload, h: JobHistory, d: JobDefaults): Decision {
  const jobId = githubJobId(p);
  const j = p.workflow_job;
  const size = parseLabels(j.labels, d);
  if (!size.ok) {
    if (!isNew(h)) return { note: `not ours: ${size.reason} (already recorded)` };
    return { append: { type: "JobIgnored", data: { jobId, source: githubSource(p), reason: size.reason } }, note: `ignored: ${size.reason}` };
  }
  if (!p.installation && isNew(h)) {
    // A repository or organisation webhook, not the App's: no runner could ever be minted for it.
    const reason = "delivered without a GitHub App installation id: only the App's webhook can start runners";
    return { append: { type: "JobIgnored", data: { jobId, source: githubSource(p), reason } }, note: `ignored: ${reason}` };
  }
  switch (p.action) {
    case "queued":
      if (!isNew(h)) return { note: "already known: state only moves forward" };
      return { append: { type: "JobQueued", data: { jobId, source: githubSource(p), spec: specFrom(size, d, githubSource(p)) } }, note: "queued" };
    case "waiting":
      // An environment gate: nothing to boot until GitHub queues it again (with a new delivery id).
      return { note: "waiting for approval" };
    case "in_progress":
      if (h.started || h.cancelled) return { note: "already started or cancelled" };
      // Late (after its `completed`): still the one record of which runner, hence which VM, ran it.
      return { append: started(jobId, j.runner_name), note: h.ended ? "started (late: already ended)" : "started" };
    case "completed": {
      if (h.ended) return { note: "already ended" };
      const c = j.conclusion ?? "cancelled";
      // Its `in_progress` was lost or is late: the completion names the runner that ran it.
      if (!h.started && j.runner_name) return { append: started(jobId, j.runner_name), note: "started (from its completion)", again: true };
      // No runner ever took it (runner_id null or 0 on GitHub's side) and we saw no start.
      if (c === "cancelled" && !h.started && !j.runner_id) {
        return { append: { type: "JobCancelled", data: { jobId, reason: "cancelled before it started" } }, note: "cancelled" };
      }
      const conclusion = CONCLUSIONS.has(c) ? (c as "success") : "neutral";
      return { append: { type: "JobCompleted", data: { jobId, conclusion, exitCode: null, reportedBy: "provider" } }, note: `completed (${c})` };
    }
    default:
      return { note: `action ${JSON.stringify(p.action)} is not handled` };
  }
}
