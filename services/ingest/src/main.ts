import { ConfigError, bootService, ensureKv, loadConfig, newEventId } from "@oneshot/runtime";
import { githubJitMinter } from "./providers/github/jit-minter.js";
import { gitlabApi } from "./providers/gitlab/api.js";
import { GITLAB_RUNNERS_BUCKET, kvRunnerRegistry, startGitlabCleanup } from "./providers/gitlab/runners.js";
import { startRunnerBroker } from "./broker/runner-broker.js";
import { IngestEnv, githubAppCredentials } from "./config.js";
import { createIngestServer } from "./http/server.js";
import { ingestMetrics } from "./metrics.js";

// The App key is read and checked before anything connects: a bad one stops ingest with one line.
let app;
try {
  app = githubAppCredentials(loadConfig("ingest", IngestEnv));
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  process.stderr.write(`oneshot-ingest: invalid configuration: ${e.message}\n`);
  process.exit(78); // EX_CONFIG
}

const svc = await bootService("ingest", IngestEnv);
const { config: c, log, nats, store, registry, shutdown } = svc;
const metrics = ingestMetrics(registry);

const gitlab = c.GITLAB_API_TOKEN ? gitlabApi({ baseUrl: c.GITLAB_URL, token: c.GITLAB_API_TOKEN }) : undefined;
const runners = gitlab ? kvRunnerRegistry(await ensureKv(nats, GITLAB_RUNNERS_BUCKET, { ttlMs: 7 * 24 * 3600_000 })) : undefined;
if (gitlab && runners) {
  const cleanup = await startGitlabCleanup({ nats, registry: runners, log, deleteRunner: gitlab.deleteRunner });
  shutdown.add("gitlab-cleanup", cleanup.stop);
}

const broker = startRunnerBroker({
  nats, store, log, metrics, runnerGroupId: c.GITHUB_RUNNER_GROUP_ID, newId: newEventId,
  ...(app ? { mintGithub: githubJitMinter({ ...app, baseUrl: c.GITHUB_API_URL }) } : {}),
  ...(gitlab && runners ? { gitlab: { url: c.GITLAB_URL, createRunner: gitlab.createRunner, deleteRunner: gitlab.deleteRunner, remember: runners.remember } } : {}),
});
shutdown.add("broker", () => broker.drain());

const server = createIngestServer({
  config: c, store, log, metrics, registry, newId: newEventId,
  healthy: () => !nats.nc.isClosed(),
  gitlabTags: async (projectId, jobId) => (gitlab ? gitlab.jobTags(projectId, jobId) : { ok: false, reason: "job tags unavailable: ingest has no GITLAB_API_TOKEN" }),
});
await new Promise<void>((resolve, reject) => {
  server.once("error", reject);
  server.listen(c.INGEST_PORT, c.INGEST_HOST, resolve);
});
// Registered after the broker: shutdown runs in reverse, so HTTP stops first, NATS drains last.
shutdown.add("http", () => new Promise((r) => server.close(r)));
if (c.INGEST_HTTP_PORT) await svc.startOps(c.INGEST_HTTP_PORT);
log.info(
  { port: c.INGEST_PORT, opsPort: c.INGEST_HTTP_PORT ?? c.INGEST_PORT, github: Boolean(c.GITHUB_WEBHOOK_SECRET), gitlab: Boolean(c.GITLAB_WEBHOOK_TOKEN), jobApi: Boolean(c.ONESHOT_API_TOKEN), githubApp: Boolean(app), gitlabApi: Boolean(gitlab) },
  "ingest listening",
);
