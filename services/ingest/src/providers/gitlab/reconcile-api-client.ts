import type { Conclusion, JobSource } from "@oneshot/proto";
import type { z } from "zod";
import type { ApiCaller, ApiResponse } from "../../reconcile/api-call.js";
import { ReconcileApiError } from "../../reconcile/errors.js";
import type { ProviderJob, ReconcileApi, RetireOutcome, RunnerRef } from "../../reconcile/types.js";

/** The GitLab runner ids the broker remembered for a job (the KV registry of providers/gitlab/runners.ts). */
export interface RememberedRunners {
  ids(jobId: string): Promise<number[]>;
  forget(jobId: string, runnerIds: number[]): Promise<void>;
}

const QUEUED = new Set(["created", "waiting_for_resource", "preparing", "pending", "manual", "scheduled"]);
const ENDED: Record<string, z.infer<typeof Conclusion>> = { success: "success", failed: "failure", canceled: "cancelled", skipped: "skipped" };

/**
 * The reconciler's GitLab calls, with the `api`-scope token in `PRIVATE-TOKEN` (never logged).
 * A VM's runner is found by the ids the broker remembered for the job the VM was booted for,
 * matched on its description (the runner name `oneshot-<hostId>-<vmId>`, set at creation).
 */
export function gitlabReconcileClient(o: { baseUrl: string; token: string; call: ApiCaller; runners: RememberedRunners }): ReconcileApi {
  const base = `${o.baseUrl.replace(/\/$/, "")}/api/v4`;
  const call = (method: "GET" | "DELETE", path: string, endpoint: string): Promise<ApiResponse> =>
    o.call({ provider: "gitlab", key: "gitlab", method, path, endpoint, url: `${base}${path}`, headers: { "private-token": o.token } });

  return {
    provider: "gitlab",
    job: async (source: JobSource) => {
      if (!source.projectId)
        throw new ReconcileApiError("gitlab", "refused", `GET /projects/?/jobs/${source.providerJobId}`, 0, "the job has no GitLab project id");
      const path = `/projects/${source.projectId}/jobs/${encodeURIComponent(source.providerJobId)}`;
      return gitlabJobAnswer(`GET ${path}`, await call("GET", path, "GET /projects/:id/jobs/:job_id"));
    },
    retireRunner: async (r: RunnerRef): Promise<RetireOutcome> => {
      const ids = await o.runners.ids(r.bootedForJobId);
      for (const id of ids) {
        const path = `/runners/${id}`;
        const info = await call("GET", path, "GET /runners/:id");
        // With one runner remembered the description check is a nicety: the jobs list below
        // answers 404 too when the runner is gone.
        if (info.status === 404 && ids.length > 1) continue;
        if (info.status !== 404) {
          expectOk(`GET ${path}`, info);
          if ((info.json as { description?: string })?.description !== r.runnerName) continue;
        }
        const jobsPath = `/runners/${id}/jobs?status=running`;
        const running = await call("GET", jobsPath, "GET /runners/:id/jobs");
        if (running.status === 404) continue;
        expectOk(`GET ${jobsPath}`, running);
        const jobs = Array.isArray(running.json) ? (running.json as { id?: number }[]) : [];
        if (jobs.length > 0) return { kind: "busy", detail: `GET ${jobsPath}: running job ${jobs.map((j) => j.id).join(", ")}` };
        // GitLab does not refuse to delete a busy runner: a job picked between the list and
        // the delete is the (short) race left; run-single's one build ends with the VM anyway.
        const del = await call("DELETE", path, "DELETE /runners/:id");
        if (del.status !== 404) expectOk(`DELETE ${path}`, del);
        await o.runners.forget(r.bootedForJobId, [id]).catch(() => undefined);
        return del.status === 404
          ? { kind: "gone", detail: `DELETE ${path}: 404 (already removed)` }
          : { kind: "removed", detail: `GET ${jobsPath}: none running; DELETE ${path}: ${del.status} (runner ${r.runnerName} removed)` };
      }
      return {
        kind: "gone",
        detail: `no GitLab runner named ${r.runnerName} is registered for ${r.bootedForJobId} (${ids.length ? `ids ${ids.join(", ")} are gone or others'` : "none remembered"})`,
      };
    },
  };
}

export function gitlabJobAnswer(call: string, res: { status: number; json: unknown }): ProviderJob {
  if (res.status === 404) return { status: "not_found", call };
  expectOk(call, res);
  const j = (res.json ?? {}) as { status?: string; runner?: { id?: number; description?: string } | null; started_at?: string | null };
  const runnerName = j.runner?.description ? String(j.runner.description).slice(0, 256) : undefined;
  const status = String(j.status ?? "");
  if (status === "running") return { status: "in_progress", call, ...(runnerName ? { runnerName } : {}) };
  const ended = ENDED[status];
  if (ended) return { status: "completed", call, conclusion: ended, ranOnRunner: Boolean(j.runner?.id || j.started_at), ...(runnerName ? { runnerName } : {}) };
  return { status: "queued", call, detail: QUEUED.has(status) ? status : `in status ${status.slice(0, 32) || "unknown"}` };
}

function expectOk(call: string, res: { status: number }): void {
  if (res.status >= 200 && res.status < 300) return;
  if (res.status === 401 || res.status === 403)
    throw new ReconcileApiError("gitlab", "refused", call, res.status, `refused (${res.status}): check GITLAB_API_TOKEN (api scope)`);
  if (res.status >= 500) throw new ReconcileApiError("gitlab", "unavailable", call, res.status, `GitLab answered ${res.status}`);
  throw new ReconcileApiError("gitlab", "unexpected", call, res.status, `unexpected answer ${res.status}`);
}
