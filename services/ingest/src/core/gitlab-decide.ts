import type { JobSource } from "@oneshot/proto";
import type { JobDefaults } from "./github-decide.js";
import type { Decision, JobHistory } from "./job-history.js";
import { parseLabels } from "./labels.js";

/** The fields of a GitLab `Job Hook` delivery ingest reads. */
export interface GitlabJobPayload {
  object_kind: string;
  build_id: number;
  build_status: string;
  build_name?: string;
  pipeline_id?: number;
  project_id: number;
  project_name?: string;
  retries_count?: number;
  project?: { path_with_namespace?: string };
  runner?: { id?: number; description?: string; tags?: string[] } | null;
}

export const gitlabJobId = (p: GitlabJobPayload) => `gl-${p.build_id}`;

export function gitlabSource(p: GitlabJobPayload, tags: string[]): JobSource {
  const path = p.project?.path_with_namespace ?? p.project_name ?? String(p.project_id);
  return {
    provider: "gitlab",
    repo: path,
    org: path.split("/")[0] ?? path,
    providerJobId: String(p.build_id),
    ...(p.pipeline_id ? { runId: String(p.pipeline_id) } : {}),
    runAttempt: (p.retries_count ?? 0) + 1,
    labels: tags.map((t) => t.toLowerCase()).slice(0, 100),
    projectId: p.project_id,
  };
}

const DONE: Record<string, "success" | "failure" | "cancelled" | "skipped"> = {
  success: "success", failed: "failure", canceled: "cancelled", skipped: "skipped",
};

/** Boot only on `pending`; running → started; success/failed/canceled/skipped → ended. */
export function decideGitlab(p: GitlabJobPayload, tags: string[] | undefined, h: JobHistory, d: JobDefaults): Decision {
  const jobId = gitlabJobId(p);
  const status = p.build_status;
  if (status === "pending") {
    if (h.queued || h.ended || h.ignored) return { note: "already known: state only moves forward" };
    if (!tags) {
      return { append: { type: "JobIgnored", data: { jobId, source: gitlabSource(p, []), reason: "job tags unavailable: set GITLAB_API_TOKEN" } }, note: "no tags" };
    }
    const source = gitlabSource(p, tags);
    const size = parseLabels(tags, d);
    if (!size.ok) return { append: { type: "JobIgnored", data: { jobId, source, reason: size.reason } }, note: `ignored: ${size.reason}` };
    return {
      append: { type: "JobQueued", data: { jobId, source, spec: { arch: size.arch, vcpus: size.vcpus, memMiB: size.memMiB, diskGiB: d.diskGiB, image: d.image, timeoutSec: d.timeoutSec } } },
      note: "queued",
    };
  }
  if (!h.queued) return { note: `status ${status} for a job that is not ours` };
  if (status === "running") {
    if (h.started || h.ended) return { note: "already started" };
    return { append: { type: "JobStarted", data: { jobId, ...(p.runner?.description ? { runnerName: p.runner.description } : {}) } }, note: "started" };
  }
  const conclusion = DONE[status];
  if (conclusion) {
    if (h.ended) return { note: "already ended" };
    if (conclusion === "cancelled" && !h.started) return { append: { type: "JobCancelled", data: { jobId, reason: "canceled before it started" } }, note: "cancelled" };
    return { append: { type: "JobCompleted", data: { jobId, conclusion, exitCode: null, reportedBy: "provider" } }, note: `completed (${status})` };
  }
  return { note: `status ${status}: nothing to do` };
}
