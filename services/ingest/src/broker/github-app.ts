import { createAppAuth } from "@octokit/auth-app";
import { request as octokitRequest } from "@octokit/request";

export type ProviderErrorCode = "duplicate-name" | "invalid" | "rate-limited" | "provider-error" | "not-configured";

export class ProviderError extends Error {
  override readonly name = "ProviderError";
  constructor(readonly code: ProviderErrorCode, message: string, readonly retryAfterSec?: number) {
    super(message);
  }
}

export interface JitRequest {
  installationId: number;
  /** `org` → org-level runner; `repo` (owner/name) → repo-level runner for user-owned repos. */
  scope: { org: string } | { repo: string };
  name: string;
  labels: string[];
  runnerGroupId: number;
}

/**
 * Mints just-in-time runner configs as the GitHub App. @octokit/auth-app signs the App JWT
 * (RS256) and caches installation tokens until shortly before they expire.
 */
export function githubJitMinter(o: { appId: string; privateKey: string; baseUrl: string }) {
  const request = octokitRequest.defaults({ baseUrl: o.baseUrl, headers: { "user-agent": "oneshot-ingest" } });
  const auth = createAppAuth({ appId: o.appId, privateKey: o.privateKey, request });
  return async (r: JitRequest): Promise<{ runnerName: string; encodedJitConfig: string }> => {
    try {
      const { token } = await auth({ type: "installation", installationId: r.installationId });
      const route = "org" in r.scope ? "POST /orgs/{org}/actions/runners/generate-jitconfig" : "POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig";
      const params = "org" in r.scope ? { org: r.scope.org } : { owner: r.scope.repo.split("/")[0]!, repo: r.scope.repo.split("/")[1]! };
      const res = await request(route, {
        ...params,
        headers: { authorization: `token ${token}` },
        name: r.name,
        runner_group_id: r.runnerGroupId,
        labels: r.labels.slice(0, 100),
        work_folder: "_work",
      });
      const data = res.data as { runner?: { name?: string }; encoded_jit_config?: string };
      if (!data.encoded_jit_config) throw new ProviderError("provider-error", "GitHub returned no encoded_jit_config");
      return { runnerName: data.runner?.name ?? r.name, encodedJitConfig: data.encoded_jit_config };
    } catch (e) {
      throw toProviderError(e);
    }
  };
}

/** Maps GitHub's answers to typed errors hostd can act on; never echoes a token. */
export function toProviderError(e: unknown): ProviderError {
  if (e instanceof ProviderError) return e;
  const err = e as { status?: number; response?: { headers?: Record<string, string | undefined> }; message?: string };
  const status = err.status ?? 0;
  const retryAfter = Number(err.response?.headers?.["retry-after"] ?? NaN);
  if (status === 409) return new ProviderError("duplicate-name", "a runner with this name already exists");
  if (status === 422) return new ProviderError("invalid", "GitHub refused the runner request (422): check the runner group and labels");
  if (status === 429 || (status === 403 && (Number.isFinite(retryAfter) || err.response?.headers?.["x-ratelimit-remaining"] === "0"))) {
    return new ProviderError("rate-limited", `GitHub rate limit (${status})`, Number.isFinite(retryAfter) ? retryAfter : 60);
  }
  return new ProviderError("provider-error", `GitHub API error ${status || ""}: ${(err.message ?? "").slice(0, 200)}`.trim());
}
