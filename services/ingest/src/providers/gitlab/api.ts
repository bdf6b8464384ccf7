import type { GitlabTags } from "./payload.js";
import { ProviderError, retryAfterSec } from "../shared/provider-error.js";

export interface GitlabApi {
  /** `GET /projects/:id/jobs/:job_id` → tag_list; `{ok: false}` when GitLab has no such job. */
  jobTags(projectId: number, jobId: number): Promise<GitlabTags>;
  /**
   * `POST /user/runners`: a project runner for one job, with the job's tags. `ref_protected`
   * (GitLab's `access_level`): it takes jobs of protected branches and tags only.
   */
  createRunner(projectId: number, tags: string[], description: string, accessLevel?: RunnerAccessLevel): Promise<{ id: number; token: string }>;
  /**
   * Whether the job's ref is protected: `GET /projects/:id/jobs/:job_id` (ref, tag), then
   * `GET /projects/:id/repository/{branches,tags}/:ref` (its `protected` flag, which GitLab
   * computes, wildcard rules included). Undefined when GitLab cannot say (job or ref gone).
   */
  refProtected(projectId: number, jobId: number): Promise<boolean | undefined>;
  /** `DELETE /runners/:id`; a runner already gone is fine. */
  deleteRunner(runnerId: number): Promise<void>;
}

/** The few GitLab REST calls ingest makes. The token is sent in a header and never logged. */
/** GitLab's two runner access levels (`POST /user/runners` `access_level`). */
export type RunnerAccessLevel = "not_protected" | "ref_protected";

export function gitlabApi(o: { baseUrl: string; token: string; timeoutMs?: number; now?: () => number }): GitlabApi {
  const now = o.now ?? Date.now;
  const call = async (method: string, path: string, what: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    let res: Response;
    try {
      res = await fetch(`${o.baseUrl.replace(/\/$/, "")}/api/v4${path}`, {
        method,
        headers: { "private-token": o.token, accept: "application/json", ...(body ? { "content-type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(o.timeoutMs ?? 4_000),
      });
    } catch (e) {
      throw new ProviderError("gitlab", "provider-error", `GitLab ${what}: unreachable (${(e as Error).name})`);
    }
    const json = res.status === 204 ? undefined : await res.json().catch(() => undefined);
    if (res.ok || res.status === 404) return { status: res.status, json };
    const at = `GitLab ${what}`;
    if (res.status === 429) throw new ProviderError("gitlab", "rate-limited", `${at}: rate limited (429)`, retryAfterSec(res.headers, now()) ?? 60, 429);
    if (res.status === 401 || res.status === 403)
      throw new ProviderError("gitlab", "not-configured", `${at}: refused (${res.status}): check GITLAB_API_TOKEN (api scope)`, undefined, res.status);
    if (res.status === 400 || res.status === 422) throw new ProviderError("gitlab", "invalid", `${at}: refused (${res.status})`, undefined, res.status);
    throw new ProviderError("gitlab", "provider-error", `${at}: GitLab answered ${res.status}`, undefined, res.status);
  };
  return {
    jobTags: async (projectId, jobId) => {
      const r = await call("GET", `/projects/${projectId}/jobs/${jobId}`, "job");
      if (r.status === 404) return { ok: false, reason: `GitLab has no job ${jobId} in project ${projectId} (404)` };
      const tags = (r.json as { tag_list?: unknown })?.tag_list;
      return Array.isArray(tags) && tags.every((t) => typeof t === "string") ? { ok: true, tags } : { ok: false, reason: "GitLab's job has no tag_list" };
    },
    createRunner: async (projectId, tags, description, accessLevel = "not_protected") => {
      const r = await call("POST", "/user/runners", "runner creation", {
        runner_type: "project_type",
        project_id: projectId,
        tag_list: tags,
        run_untagged: false,
        locked: true,
        description,
        access_level: accessLevel,
      });
      if (r.status === 404)
        throw new ProviderError("gitlab", "not-configured", `GitLab runner creation: no project ${projectId} for this token (404)`, undefined, 404);
      const runner = r.json as { id?: unknown; token?: unknown };
      if (typeof runner?.id !== "number" || typeof runner.token !== "string")
        throw new ProviderError("gitlab", "provider-error", "GitLab created a runner without id or token");
      return { id: runner.id, token: runner.token };
    },
    refProtected: async (projectId, jobId) => {
      const job = await call("GET", `/projects/${projectId}/jobs/${jobId}`, "job");
      const j = job.json as { ref?: unknown; tag?: unknown } | undefined;
      if (job.status === 404 || typeof j?.ref !== "string") return undefined;
      const kind = j.tag === true ? "tags" : "branches";
      const ref = await call("GET", `/projects/${projectId}/repository/${kind}/${encodeURIComponent(j.ref)}`, kind === "tags" ? "tag" : "branch");
      const p = (ref.json as { protected?: unknown } | undefined)?.protected;
      return ref.status === 404 || typeof p !== "boolean" ? undefined : p;
    },
    deleteRunner: async (runnerId) => void (await call("DELETE", `/runners/${runnerId}`, "runner deletion")),
  };
}
