import { bootService, ensureKv } from "@oneshot/runtime";
import { startGitlabCleanup } from "./broker/gitlab-cleanup.js";
import { IngestEnv, appPrivateKey } from "./config.js";
import { githubJitMinter } from "./broker/github-app.js";
import { gitlabApi } from "./broker/gitlab-api.js";
import { startRunnerBroker } from "./broker/runner-broker.js";
import { createIngestServer } from "./http/server.js";
import { ingestMetrics } from "./metrics.js";

const svc = await bootService("ingest", IngestEnv);
const { config: c, log, nats, store, registry, shutdown } = svc;
const metrics = ingestMetrics(registry);
const key = appPrivateKey(c);
const gitlab = c.GITLAB_API_TOKEN ? gitlabApi({ baseUrl: c.GITLAB_URL, token: c.GITLAB_API_TOKEN }) : undefined;
const runnersKv = gitlab ? await ensureKv(nats, "ingest-gitlab-runners", { ttlMs: 7 * 24 * 3600_000 }) : undefined;
if (gitlab && runnersKv) {
  const cleanup = await startGitlabCleanup({ nats, kv: runnersKv, log, deleteRunner: gitlab.deleteRunner });
  shutdown.add("gitlab-cleanup", cleanup.stop);
}
const broker = startRunnerBroker({
  nats, store, log, metrics, runnerGroupId: c.GITHUB_RUNNER_GROUP_ID,
  ...(c.GITHUB_APP_ID && key ? { mintGithub: githubJitMinter({ appId: c.GITHUB_APP_ID, privateKey: key, baseUrl: c.GITHUB_API_URL }) } : {}),
  ...(gitlab && runnersKv
    ? { gitlab: { url: c.GITLAB_URL, createRunner: gitlab.createRunner, remember: async (jobId: string, id: number) => void (await runnersKv.put(jobId, String(id))) } }
    : {}),
});
shutdown.add("broker", () => broker.drain());
const server = createIngestServer({
  config: c, store, log, metrics, registry,
  healthy: () => !nats.nc.isClosed(),
  gitlabTags: async (projectId, jobId) => {
    if (!gitlab) return undefined;
    return gitlab.jobTags(projectId, jobId).catch((e: Error) => {
      log.warn({ projectId, jobId, err: e.message }, "cannot read GitLab job tags");
      return undefined;
    });
  },
});
await new Promise<void>((resolve) => server.listen(c.INGEST_PORT, c.INGEST_HOST, resolve));
shutdown.add("http", () => new Promise((r) => server.close(r)));
log.info(
  { port: c.INGEST_PORT, github: Boolean(c.GITHUB_WEBHOOK_SECRET), gitlab: Boolean(c.GITLAB_WEBHOOK_TOKEN), jobApi: Boolean(c.ONESHOT_API_TOKEN), githubApp: Boolean(c.GITHUB_APP_ID && key) },
  "ingest listening",
);
