import { createAppAuth } from "@octokit/auth-app";
import { request as octokitRequest } from "@octokit/request";
import type { Conclusion, JobSource } from "@oneshot/proto";
import type { z } from "zod";
import type { ApiCaller, ApiResponse } from "../../reconcile/api-call.js";
import { ReconcileApiError } from "../../reconcile/errors.js";
import type { DeliveriesApi, HookDelivery, ProviderJob, ReconcileApi, RetireOutcome, RunnerRef } from "../../reconcile/types.js";

const CONCLUSIONS = new Set(["success", "failure", "cancelled", "skipped", "timed_out", "neutral", "action_required", "stale"]);

export interface GithubReconcileClient extends ReconcileApi {
  deliveries: DeliveriesApi;
}

/**
 * The reconciler's GitHub calls: the App's webhook deliveries with the App JWT, jobs and
 * runners with the installation's token (both from @octokit/auth-app, which caches tokens until
 * shortly before they expire, as the JIT minter does). Every call goes through `call` (budget,
 * concurrency, metrics). Tokens travel in headers only; errors name the call, never a token.
 */
export function githubReconcileClient(o: { appId: string; privateKey: string; baseUrl: string; call: ApiCaller }): GithubReconcileClient {
  const base = o.baseUrl.replace(/\/$/, "");
  const request = octokitRequest.defaults({ baseUrl: base, headers: { "user-agent": "oneshot-ingest-reconcile" } });
  const auth = createAppAuth({ appId: o.appId, privateKey: o.privateKey, request });
  const gh = { accept: "application/vnd.github+json", "x-github-api-version": "2022-11-28" };

  const installationCall = async (source: JobSource, method: "GET" | "DELETE", path: string, endpoint: string): Promise<ApiResponse> => {
    if (!source.installationId) throw new ReconcileApiError("github", "refused", `${method} ${path}`, 0, "the job has no GitHub App installation id");
    const { token } = await auth({ type: "installation", installationId: source.installationId }).catch((e: unknown) => {
      throw tokenError(e, source.installationId!);
    });
    return o.call({
      provider: "github",
      key: `github:installation:${source.installationId}`,
      method,
      path,
      endpoint,
      url: `${base}${path}`,
      headers: { ...gh, authorization: `token ${token}` },
    });
  };
  const appCall = async (method: "GET" | "POST", path: string, endpoint: string): Promise<ApiResponse> => {
    const { token } = await auth({ type: "app" });
    return o.call({
      provider: "github",
      key: "github:app",
      method,
      path,
      endpoint,
      url: `${base}${path}`,
      headers: { ...gh, authorization: `bearer ${token}` },
    });
  };

  return {
    provider: "github",
    job: async (source) => {
      const path = `/repos/${source.repo}/actions/jobs/${encodeURIComponent(source.providerJobId)}`;
      const res = await installationCall(source, "GET", path, "GET /repos/:owner/:repo/actions/jobs/:job_id");
      return jobAnswer(`GET ${path}`, res);
    },
    retireRunner: async (r) => retire(r, installationCall),
    deliveries: {
      list: async (sinceMs, maxPages) => {
        const rows: HookDelivery[] = [];
        let path: string | undefined = "/app/hook/deliveries?per_page=100";
        let pages = 0;
        while (path && pages < maxPages) {
          const res = await appCall("GET", path, "GET /app/hook/deliveries");
          pages++;
          expectOk(`GET ${path.split("?")[0]}`, res);
          const page = Array.isArray(res.json)
            ? (res.json as Record<string, unknown>[]).map(deliveryRow).filter((d): d is HookDelivery => d !== undefined)
            : [];
          rows.push(...page);
          if (page.length === 0 || page.some((d) => Date.parse(d.deliveredAt) < sinceMs)) return { rows, complete: true, pages };
          path = nextLink(res.headers.get("link"), base);
        }
        return { rows, complete: path === undefined, pages };
      },
      redeliver: async (id) => {
        const path = `/app/hook/deliveries/${encodeURIComponent(id)}/attempts`;
        const res = await appCall("POST", path, "POST /app/hook/deliveries/:delivery_id/attempts");
        expectOk(`POST ${path}`, res);
      },
    },
  };
}

async function retire(r: RunnerRef, call: (s: JobSource, m: "GET" | "DELETE", path: string, endpoint: string) => Promise<ApiResponse>): Promise<RetireOutcome> {
  // Where the broker minted it: organisations get org runners, a user's repository repo runners.
  const scope = r.source.ownerType === "User" ? `/repos/${r.source.repo}` : `/orgs/${r.source.org}`;
  const tmpl = r.source.ownerType === "User" ? "/repos/:owner/:repo" : "/orgs/:org";
  const list = `${scope}/actions/runners?name=${encodeURIComponent(r.runnerName)}`;
  const found = await call(r.source, "GET", list, `GET ${tmpl}/actions/runners`);
  if (found.status === 404) return { kind: "gone", detail: `GET ${list}: 404 (no such scope any more)` };
  expectOk(`GET ${list}`, found);
  const runner = ((found.json as { runners?: { id?: number; name?: string }[] })?.runners ?? []).find(
    (x) => x.name === r.runnerName && typeof x.id === "number",
  );
  if (!runner) return { kind: "gone", detail: `GET ${list}: no runner of that name (never registered, or already removed)` };
  const del = `${scope}/actions/runners/${runner.id}`;
  const res = await call(r.source, "DELETE", del, `DELETE ${tmpl}/actions/runners/:runner_id`);
  if (res.status === 204 || (res.status >= 200 && res.status < 300))
    return { kind: "removed", detail: `DELETE ${del}: ${res.status} (runner ${r.runnerName} removed)` };
  if (res.status === 404) return { kind: "gone", detail: `DELETE ${del}: 404 (already removed)` };
  if (res.status === 422) return { kind: "busy", detail: `DELETE ${del}: 422 (${r.runnerName} is still running a job)` };
  expectOk(`DELETE ${del}`, res);
  return { kind: "removed", detail: `DELETE ${del}: ${res.status}` };
}

/** `GET /repos/{o}/{r}/actions/jobs/{id}` → the normalised answer. */
export function jobAnswer(call: string, res: { status: number; json: unknown }): ProviderJob {
  if (res.status === 404) return { status: "not_found", call };
  expectOk(call, res as ApiResponse);
  const j = (res.json ?? {}) as { status?: string; conclusion?: string | null; runner_name?: string | null; runner_id?: number | null };
  const runnerName = j.runner_name ? String(j.runner_name).slice(0, 256) : undefined;
  if (j.status === "in_progress") return { status: "in_progress", call, ...(runnerName ? { runnerName } : {}) };
  if (j.status === "completed") {
    const c = j.conclusion ?? "cancelled";
    const conclusion = (CONCLUSIONS.has(c) ? c : "neutral") as z.infer<typeof Conclusion>;
    return { status: "completed", call, conclusion, ranOnRunner: Boolean(j.runner_id), ...(runnerName ? { runnerName } : {}) };
  }
  return { status: "queued", call, detail: String(j.status ?? "queued").slice(0, 32) };
}

export function deliveryRow(d: Record<string, unknown>): HookDelivery | undefined {
  if ((typeof d.id !== "number" && typeof d.id !== "string") || typeof d.guid !== "string" || typeof d.delivered_at !== "string") return undefined;
  return {
    id: String(d.id),
    guid: d.guid,
    deliveredAt: d.delivered_at,
    redelivery: d.redelivery === true,
    statusCode: typeof d.status_code === "number" ? d.status_code : 0,
    event: typeof d.event === "string" ? d.event : "",
    ...(typeof d.action === "string" ? { action: d.action } : {}),
  };
}

/** The `rel="next"` of a Link header, as a path on our base (a link elsewhere is not followed: the JWT goes only to GitHub). */
export function nextLink(link: string | null, base: string): string | undefined {
  const m = /<([^>]+)>\s*;\s*rel="next"/.exec(link ?? "");
  if (!m) return undefined;
  const u = new URL(m[1]!, base);
  const b = new URL(base);
  if (u.origin !== b.origin) return undefined;
  const prefix = b.pathname.replace(/\/$/, "");
  const path = u.pathname.startsWith(prefix) ? u.pathname.slice(prefix.length) : u.pathname;
  return `${path}${u.search}`;
}

function expectOk(call: string, res: { status: number }): void {
  if (res.status >= 200 && res.status < 300) return;
  if (res.status === 401 || res.status === 403)
    throw new ReconcileApiError(
      "github",
      "refused",
      call,
      res.status,
      `refused (${res.status}): check the App's permissions (actions: read, self-hosted runners / administration: write)`,
    );
  if (res.status >= 500) throw new ReconcileApiError("github", "unavailable", call, res.status, `GitHub answered ${res.status}`);
  throw new ReconcileApiError("github", "unexpected", call, res.status, `unexpected answer ${res.status}`);
}

function tokenError(e: unknown, installationId: number): ReconcileApiError {
  const status = typeof (e as { status?: unknown }).status === "number" ? (e as { status: number }).status : 0;
  const code = status === 0 || status >= 500 || status === 429 ? (status === 429 ? "rate-limited" : "unavailable") : "refused";
  return new ReconcileApiError(
    "github",
    code,
    `POST /app/installations/${installationId}/access_tokens`,
    status,
    `no installation token (${status || "no answer"})`,
    undefined,
    e,
  );
}
