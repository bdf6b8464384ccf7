import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { onRequest } from "./http-request.js";

/**
 * A stand-in for the GitLab REST calls oneshot makes: job tags, runner creation and deletion.
 * It checks the `PRIVATE-TOKEN`, validates bodies as GitLab does (runner_type, project_id for
 * project runners), and records every call without credentials.
 */
export interface FakeGitLab {
  url: string;
  calls: { method: string; path: string; body: unknown; status: number }[];
  /** Live runners by id. */
  runners: Map<number, { token: string; tags: string[]; projectId: number; description: string }>;
  /** Tags of a job, served by `GET /api/v4/projects/:id/jobs/:job_id`. */
  setJobTags(projectId: number, jobId: number, tags: string[]): void;
  /** Make the next API calls fail with this status (e.g. 500, 429 with `retry-after: 20`). */
  failNext(status: number, times?: number, headers?: Record<string, string>): void;
  close(): Promise<void>;
}

export async function startFakeGitLab(o: { token: string }): Promise<FakeGitLab> {
  const calls: FakeGitLab["calls"] = [];
  const runners: FakeGitLab["runners"] = new Map();
  const jobs = new Map<string, string[]>();
  let nextId = 500;
  let failing: { status: number; times: number; headers: Record<string, string> } | undefined;
  const server = createServer(
    onRequest(calls, (req, path, body, send) => {
      if (req.headers["private-token"] !== o.token) return send(401, { message: "401 Unauthorized" });
      if (failing && failing.times > 0) {
        failing.times--;
        return send(failing.status, { message: `injected ${failing.status}` }, failing.headers);
      }
      const job = /^\/api\/v4\/projects\/(\d+)\/jobs\/(\d+)$/.exec(path);
      if (req.method === "GET" && job) {
        const tags = jobs.get(`${job[1]}/${job[2]}`);
        return tags ? send(200, { id: Number(job[2]), status: "pending", tag_list: tags }) : send(404, { message: "404 Not found" });
      }
      if (req.method === "POST" && path === "/api/v4/user/runners") {
        // GitLab takes tag_list as an array (JSON) or a comma-separated string (form fields).
        const b = body as { runner_type?: string; project_id?: number; tag_list?: string | string[]; description?: string };
        if (!["instance_type", "group_type", "project_type"].includes(b?.runner_type ?? "")) return send(400, { message: "runner_type is invalid" });
        if (b.runner_type === "project_type" && typeof b.project_id !== "number") return send(400, { message: "project_id is missing" });
        const id = ++nextId;
        const token = `glrt-${randomBytes(10).toString("hex")}`;
        const tags = Array.isArray(b.tag_list) ? b.tag_list : (b.tag_list ?? "").split(",").filter(Boolean);
        if (!tags.every((t) => typeof t === "string")) return send(400, { message: "tag_list is invalid" });
        runners.set(id, { token, tags, projectId: b.project_id!, description: b.description ?? "" });
        return send(201, { id, token, token_expires_at: null });
      }
      const del = /^\/api\/v4\/runners\/(\d+)$/.exec(path);
      if (req.method === "DELETE" && del) {
        return runners.delete(Number(del[1])) ? send(204) : send(404, { message: "404 Runner Not Found" });
      }
      send(404, { message: "404 Not Found" });
    }),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    calls,
    runners,
    setJobTags: (p, j, tags) => void jobs.set(`${p}/${j}`, tags),
    failNext: (status, times = 1, headers) => void (failing = { status, times, headers: headers ?? (status === 429 ? { "retry-after": "20" } : {}) }),
    close: () => new Promise((r) => server.close(() => r())),
  };
}
