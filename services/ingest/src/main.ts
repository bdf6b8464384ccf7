import { ConfigError, bootService, ensureKv, exitWith, listenOn, loadConfig, newEventId } from "@oneshot/runtime";
import { FOREIGN_BUCKET, FOREIGN_TTL_MS, kvForeignJobs } from "./foreign-jobs.js";
import { startRunnerBroker } from "./broker/runner-broker.js";
import { RUNNER_REPLIES_BUCKET, RUNNER_REPLIES_TTL_MS } from "./broker/shared-replies.js";
import { IngestEnv } from "./config.js";
import { loadEgressPolicy } from "./egress/load-policy.js";
import { createIngestServer } from "./http/server.js";
import { ingestMetrics } from "./metrics.js";
import { startReconcile } from "./reconcile/start.js";
import { providerNames, providerSetup, startProviders, type ProviderSetup } from "./providers/registry.js";

// Every provider reads and checks its configuration (the GitHub App key, …) before anything
// connects: a bad value stops ingest with one line.
let setups: ProviderSetup[];
try {
  const config = loadConfig("ingest", IngestEnv);
  setups = providerNames.map((name) => providerSetup(name, config));
  loadEgressPolicy(config.INGEST_EGRESS_POLICY_FILE);
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  process.stderr.write(`oneshot-ingest: invalid configuration: ${e.message}\n`);
  process.exit(78); // EX_CONFIG
}

const svc = await bootService("ingest", IngestEnv);
const { config: c, log, nats, store, registry, shutdown } = svc;
const metrics = ingestMetrics(registry);

const providers = await startProviders(setups, { nats, log });
for (const p of providers.values()) if (p.stop) shutdown.add(`${p.name}-provider`, p.stop);

// The reconciler (reconcile/): one acting replica by lease; stops before NATS drains.
const reconcile = await startReconcile({
  config: c,
  nats,
  store,
  log,
  registry,
  onFatal: (e) => {
    log.fatal({ err: e }, "reconcile: event log follow failed");
    void shutdown.run(1);
  },
});
if (reconcile) shutdown.add("reconcile", reconcile.stop);

// Shared by every replica: a host's retry answered by another replica is not minted again.
const runnerReplies = await ensureKv(nats, RUNNER_REPLIES_BUCKET, { ttlMs: RUNNER_REPLIES_TTL_MS }).catch(
  (e: unknown) =>
    void log.warn(
      { err: e, bucket: RUNNER_REPLIES_BUCKET },
      "shared runner-reply bucket unavailable: answers are per replica (provision it with oneshot admin init)",
    ),
);
const broker = startRunnerBroker({ nats, store, log, metrics, providers, newId: newEventId, ...(runnerReplies ? { replies: runnerReplies } : {}) });
shutdown.add("broker", () => broker.drain());
await broker.ready;

// Jobs that are not ours are kept a few days (foreign-jobs.ts); without the bucket (before `oneshot admin init`) only counted.
const foreignKv = c.INGEST_RECORD_FOREIGN_JOBS
  ? undefined
  : await ensureKv(nats, FOREIGN_BUCKET, { ttlMs: FOREIGN_TTL_MS }).catch(
      (e: unknown) => void log.warn({ err: e, bucket: FOREIGN_BUCKET }, "foreign-jobs bucket unavailable: foreign deliveries are only counted"),
    );
const foreign = foreignKv ? kvForeignJobs(foreignKv, log) : undefined;
const server = createIngestServer({
  config: c,
  store,
  log,
  metrics,
  registry,
  newId: newEventId,
  providers,
  healthy: () => !nats.nc.isClosed(),
  ...(foreign ? { foreign } : {}),
});
await listenOn(server, c.INGEST_PORT, c.INGEST_HOST, "webhooks and the job API (INGEST_PORT)").catch((e: Error) => exitWith("ingest", e));
// Registered after the broker: shutdown runs in reverse, so HTTP stops first, NATS drains last.
shutdown.add("http", () => new Promise((r) => server.close(r)));
if (c.INGEST_HTTP_PORT) await svc.startOps(c.INGEST_HTTP_PORT);
log.info(
  {
    port: c.INGEST_PORT,
    opsPort: c.INGEST_HTTP_PORT ?? c.INGEST_PORT,
    providers: [...providers.keys()],
    github: Boolean(c.GITHUB_WEBHOOK_SECRET),
    gitlab: Boolean(c.GITLAB_WEBHOOK_TOKEN),
    jobApi: Boolean(c.ONESHOT_API_TOKEN),
    githubApp: Boolean(c.GITHUB_APP_ID),
    gitlabApi: Boolean(c.GITLAB_API_TOKEN),
    reconcile: Boolean(reconcile),
  },
  "ingest listening",
);
