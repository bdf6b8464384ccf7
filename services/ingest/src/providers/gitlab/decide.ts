import type { JobSource } from "@oneshot/proto";
import { specFrom, storedLabels, type JobDefaults } from "../shared/job-spec.js";
import { started } from "../shared/started.js";
import type { GitlabJobPayload, GitlabTags } from "./payload.js";
import { isNew, type Decision, type JobHistory } from "../shared/job-history.js";
import { parseLabels } from "../shared/labels.js";

/** GitLab jobs are `gl-<build_id>`: the runner cleanup (runners.ts) only looks at those. */
export const GITLAB_JOB_ID_PREFIX = "gl-";
export const gitlabJobId = (p: GitlabJobPayload) => `${GITLAB_JOB_ID_PREFIX}${p.build_id}`;

export function gitlabSource(p: GitlabJobPayload, tags: readonly string[]): JobSource {
  const path = p.project?.path_with_namespace ?? String(p.project_id);
  return {
    provider: "gitlab",
    repo: path,
    org: path.split("/")[0] || path,
    providerJobId: String(p.build_id),
    ...(p.pipeline_id !== undefined ? { runId: String(p.pipeline_id) } : {}),
    // A retry is a new build_id with a higher retries_count.
    runAttempt: (p.retries_count ?? 0) + 1,
    labels: storedLabels(tags),
    projectId: p.project_id,
  };
}

/** Statuses before a runner may take the job, or that never reach one: nothing to record. */
const NOT_YET = new Set(["created", "waiting_for_resource", "preparing", "manual", "scheduled"]);
const ENDED: ReadonlyMap<string, "success" | "failure" | "cancelled" | "skipped"> = new Map([
  ["success", "success"],
  ["failed", "failure"],
  ["canceled", "cancelled"],
  ["skipped", "skipped"],
]);

/**
 * Whether deciding this delivery needs the job's tags (an API call): only for the first status
 * we store of a job, since tags say whether it is ours at all.
 */
export const gitlabNeedsTags = (p: GitlabJobPayload, h: JobHistory) =>
  isNew(h) && (p.build_status === "pending" || p.build_status === "running" || ENDED.has(p.build_status));

/**
 * A Job Hook delivery + the job's tags (when needed) + its history → at most one event. Pure.
 * Boots only on `pending`; like GitHub, state only moves forward, so a `running` or an end that
 * arrives first is stored and a late `pending` boots nothing; a job that is not ours is
 * recorded once as JobIgnored.
 */
export function decideGitlab(p: GitlabJobPayload, tags: GitlabTags | undefined, h: JobHistory, d: JobDefaults): Decision {
  const jobId = gitlabJobId(p);
  const status = p.build_status;
  if (NOT_YET.has(status)) return { note: `status ${status}: nothing to do yet` };
  if (status !== "pending" && status !== "running" && !ENDED.has(status)) return { note: `status ${status} is not handled` };
  if (h.ignored) return { note: "not ours (already recorded)" };

  if (isNew(h)) {
    if (!tags) throw new Error("decideGitlab: tags are needed for a job seen for the first time");
    if (!tags.ok) return { append: { type: "JobIgnored", data: { jobId, source: gitlabSource(p, []), reason: tags.reason } }, note: `ignored: ${tags.reason}` };
    const size = parseLabels(tags.tags, d);
    const source = gitlabSource(p, tags.tags);
    if (!size.ok) return { append: { type: "JobIgnored", data: { jobId, source, reason: size.reason } }, note: `ignored: ${size.reason}` };
    if (status === "pending") return { append: { type: "JobQueued", data: { jobId, source, spec: specFrom(size, d, source) } }, note: "queued" };
  }

  if (status === "pending") return { note: "already known: state only moves forward" };
  if (status === "running") {
    if (h.started || h.ended) return { note: "already started" };
    return { append: started(jobId, p.runner?.description), note: "started" };
  }
  if (h.ended) return { note: "already ended" };
  const conclusion = ENDED.get(status)!;
  if (conclusion === "cancelled" && !h.started && !p.runner?.id) {
    return { append: { type: "JobCancelled", data: { jobId, reason: "canceled before it started" } }, note: "cancelled" };
  }
  return { append: { type: "JobCompleted", data: { jobId, conclusion, exitCode: null, reportedBy: "provider" } }, note: `completed (${status})` };
}
