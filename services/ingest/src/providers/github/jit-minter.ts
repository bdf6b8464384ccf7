import { createAppAuth } from "@octokit/auth-app";
import { request as octokitRequest } from "@octokit/request";
import { ProviderError, retryAfterSec } from "../shared/provider-error.js";

export interface JitRequest {
  installationId: number;
  /** `org` → an organisation runner; `repo` (owner/name) → a repository runner (user-owned repos). */
  scope: { org: string } | { repo: string };
  name: string;
  labels: string[];
  runnerGroupId: number;
}

export interface JitConfig {
  runnerId: number | undefined;
  runnerName: string;
  /** The secret: the runner's whole configuration, for `run.sh --jitconfig`. */
  encodedJitConfig: string;
}

export type MintGithub = (r: JitRequest) => Promise<JitConfig>;

/**
 * Mints just-in-time runner configs as the GitHub App. @octokit/auth-app signs the App JWT
 * (RS256, iat 60 s back, 10 min life, iss = App id) and caches each installation's token
 * until shortly before it expires; `baseUrl` points both at GitHub, GHES or a stand-in.
 */
export function githubJitMinter(o: { appId: string; privateKey: string; baseUrl: string; now?: () => number }): MintGithub {
  const now = o.now ?? Date.now;
  const request = octokitRequest.defaults({ baseUrl: o.baseUrl.replace(/\/$/, ""), headers: { "user-agent": "oneshot-ingest" } });
  const auth = createAppAuth({ appId: o.appId, privateKey: o.privateKey, request });
  return async (r) => {
    let step = "installation token";
    try {
      const { token } = await auth({ type: "installation", installationId: r.installationId });
      step = "generate-jitconfig";
      const body = { name: r.name, runner_group_id: r.runnerGroupId, labels: r.labels.slice(0, 100), work_folder: "_work" };
      const res =
        "org" in r.scope
          ? await request("POST /orgs/{org}/actions/runners/generate-jitconfig", { org: r.scope.org, headers: { authorization: `token ${token}` }, ...body })
          : await request("POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig", {
              owner: r.scope.repo.split("/")[0]!,
              repo: r.scope.repo.split("/")[1]!,
              headers: { authorization: `token ${token}` },
              ...body,
            });
      const data = res.data as { runner?: { id?: number; name?: string }; encoded_jit_config?: string };
      if (!data.encoded_jit_config) throw new ProviderError("github", "provider-error", "GitHub answered generate-jitconfig without encoded_jit_config");
      return { runnerId: data.runner?.id, runnerName: data.runner?.name ?? r.name, encodedJitConfig: data.encoded_jit_config };
    } catch (e) {
      throw githubError(e, step, now());
    }
  };
}

/** GitHub's answer (an octokit RequestError) → a typed error; never echoes a token. */
export function githubError(e: unknown, step: string, nowMs: number): ProviderError {
  if (e instanceof ProviderError) return e;
  const err = e as { status?: number; response?: { headers?: Record<string, string | number | undefined> } };
  const status = typeof err.status === "number" ? err.status : 0;
  const h = err.response?.headers ?? {};
  const headers = { get: (n: string) => (h[n] === undefined ? undefined : String(h[n])) };
  const wait = retryAfterSec(headers, nowMs);
  const at = `GitHub ${step}`;
  if (status === 429 || (status === 403 && (wait !== undefined || headers.get("x-ratelimit-remaining") === "0"))) {
    return new ProviderError("github", "rate-limited", `${at}: rate limited (${status})`, wait ?? 60, status);
  }
  if (status === 409) return new ProviderError("github", "duplicate-name", `${at}: a runner with this name already exists (409)`, undefined, status);
  if (status === 422) return new ProviderError("github", "invalid", `${at}: refused (422): check GITHUB_RUNNER_GROUP_ID and the labels`, undefined, status);
  if (status === 401)
    return new ProviderError(
      "github",
      "not-configured",
      `${at}: GitHub refused the App's credentials (401): check GITHUB_APP_ID and the private key`,
      undefined,
      status,
    );
  if (status === 403 || status === 404) {
    return new ProviderError(
      "github",
      "not-configured",
      `${at}: not allowed (${status}): is the App installed there, with self-hosted runner (org) or administration (repo) write permission?`,
      undefined,
      status,
    );
  }
  if (status >= 500 || status === 0)
    return new ProviderError("github", "provider-error", `${at}: GitHub unavailable (${status || "no answer"})`, undefined, status);
  return new ProviderError("github", "provider-error", `${at}: unexpected answer ${status}`, undefined, status);
}
