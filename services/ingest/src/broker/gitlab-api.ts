import { ProviderError } from "./github-app.js";

/** The few GitLab REST calls ingest makes, with a token that never reaches a log line. */
export function gitlabApi(o: { baseUrl: string; token: string }) {
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${o.baseUrl.replace(/\/$/, "")}/api/v4${path}`, {
      method,
      headers: { "private-token": o.token, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(5_000),
    }).catch((e: Error) => {
      throw new ProviderError("provider-error", `GitLab unreachable: ${e.message}`);
    });
    if (res.status === 429) throw new ProviderError("rate-limited", "GitLab rate limit", Number(res.headers.get("retry-after") ?? 60));
    if (!res.ok) throw new ProviderError(res.status === 400 || res.status === 422 ? "invalid" : "provider-error", `GitLab ${method} ${path.split("?")[0]} → ${res.status}`);
    return res.status === 204 ? undefined : res.json();
  };
  return {
    jobTags: async (projectId: number, jobId: number): Promise<string[]> => ((await call("GET", `/projects/${projectId}/jobs/${jobId}`)) as { tag_list?: string[] }).tag_list ?? [],
    createRunner: async (projectId: number, tags: string[], description: string) =>
      (await call("POST", "/user/runners", { runner_type: "project_type", project_id: projectId, tag_list: tags.join(","), run_untagged: false, description })) as { id: number; token: string },
    deleteRunner: async (runnerId: number) => void (await call("DELETE", `/runners/${runnerId}`)),
  };
}
