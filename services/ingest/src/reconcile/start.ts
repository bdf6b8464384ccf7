import { hostname } from "node:os";
import { LeaderLease, SNAPSHOT_BUCKET, SnapshotStore, ensureKv, type EventStore, type Logger, type Nats } from "@oneshot/runtime";
import type { Registry } from "prom-client";
import { githubAppCredentials, type IngestConfig } from "../config.js";
import { githubReconcileClient } from "../providers/github/reconcile-api-client.js";
import { gitlabReconcileClient } from "../providers/gitlab/reconcile-api-client.js";
import { GITLAB_RUNNERS_BUCKET, kvRunnerRegistry } from "../providers/gitlab/runners.js";
import { apiCaller } from "./api-call.js";
import { CallBudget } from "./budget.js";
import { startReconciler, type Reconciler } from "./loop.js";
import { reconcileMetrics } from "./metrics.js";
import { RECONCILE_SNAPSHOT_NAME } from "./snapshots.js";
import type { ReconcileApi } from "./types.js";

/** KV bucket of the reconcile lease (allowed to ingest's NATS identity by `oneshot admin`). */
export const RECONCILE_BUCKET = "ingest-reconcile";

/**
 * Builds the reconciler from ingest's configuration: the budgeted caller, a client per
 * configured provider, the lease (one acting replica), the loop. Undefined when disabled.
 */
export async function startReconcile(o: {
  config: IngestConfig;
  nats: Nats;
  store: EventStore;
  log: Logger;
  registry: Registry;
  onFatal: (e: unknown) => void;
}): Promise<{ reconciler: Reconciler; stop: () => Promise<void> } | undefined> {
  const c = o.config;
  if (!c.RECONCILE_ENABLED) return undefined;
  const log = o.log.child({ component: "reconcile" });
  const metrics = reconcileMetrics(o.registry);
  const call = apiCaller({
    budget: new CallBudget({ requestsPerHour: c.RECONCILE_BUDGET_PER_HOUR, pointsPerMinute: c.RECONCILE_POINTS_PER_MINUTE }),
    metrics,
    maxConcurrency: c.RECONCILE_MAX_CONCURRENCY,
    maxWaitMs: c.RECONCILE_MAX_WAIT * 1000,
    timeoutMs: 10_000,
  });
  const app = githubAppCredentials(c);
  const github = app ? githubReconcileClient({ ...app, baseUrl: c.GITHUB_API_URL, call }) : undefined;
  const apis: Partial<Record<"github" | "gitlab", ReconcileApi>> = {};
  if (github) apis.github = github;
  if (c.GITLAB_API_TOKEN) {
    const runners = kvRunnerRegistry(await ensureKv(o.nats, GITLAB_RUNNERS_BUCKET, { ttlMs: 7 * 24 * 3600_000 }));
    apis.gitlab = gitlabReconcileClient({ baseUrl: c.GITLAB_URL, token: c.GITLAB_API_TOKEN, call, runners });
  }

  const ttlMs = c.RECONCILE_LEASE_TTL * 1000;
  const kv = await ensureKv(o.nats, RECONCILE_BUCKET, { ttlMs }).catch((e: unknown) => {
    // A least-privilege identity cannot create buckets: `oneshot admin init` provisions it.
    // Without it this replica acts alone (appends stay idempotent; two replicas would both spend budget).
    log.error(
      { err: (e as Error).message, bucket: RECONCILE_BUCKET },
      "reconcile: no lease bucket (provision it with `oneshot admin init`); acting without a lease: run one ingest replica",
    );
    return undefined;
  });
  let reconciler: Reconciler | undefined;
  const lease = kv
    ? new LeaderLease(kv, {
        role: "reconcile",
        key: "leader",
        holder: `${hostname()}-${process.pid}`,
        ttlMs,
        clock: Date.now,
        log,
        onChange: (leader) => {
          metrics.leader.set(leader ? 1 : 0);
          if (leader) void reconciler?.tick();
        },
      })
    : undefined;
  metrics.leader.set(lease ? 0 : 1);
  await lease?.tick();
  const renew = setInterval(() => void lease?.tick(), Math.max(1000, ttlMs / 3));
  // Without the bucket (before `oneshot admin init`, an identity that may not create it): full replays.
  const snapshotKv =
    c.RECONCILE_SNAPSHOT_EVERY > 0 || c.RECONCILE_SNAPSHOT_SECONDS > 0
      ? await ensureKv(o.nats, SNAPSHOT_BUCKET).catch(
          (e: unknown) =>
            void log.warn({ err: (e as Error).message, bucket: SNAPSHOT_BUCKET }, "reconcile: snapshot bucket unavailable; every start replays the whole log"),
        )
      : undefined;
  reconciler = await startReconciler({
    ...(snapshotKv
      ? {
          snapshots: {
            store: new SnapshotStore(snapshotKv, RECONCILE_SNAPSHOT_NAME),
            policy: { everyEvents: c.RECONCILE_SNAPSHOT_EVERY, everyMs: c.RECONCILE_SNAPSHOT_SECONDS * 1000 },
          },
        }
      : {}),
    store: o.store,
    log,
    metrics,
    apis,
    ...(github ? { deliveries: github.deliveries } : {}),
    isLeader: () => (lease ? lease.isLeader() : true),
    clock: Date.now,
    onFatal: o.onFatal,
    options: {
      intervalMs: c.RECONCILE_INTERVAL * 1000,
      staleAfterMs: c.RECONCILE_STALE_AFTER * 1000,
      maxChecksPerTick: c.RECONCILE_MAX_CHECKS_PER_TICK,
      deliveriesLookbackMs: 3 * 24 * 3600_000,
      deliveriesMaxPages: c.RECONCILE_DELIVERIES_MAX_PAGES,
      idleDelayMs: 1000,
    },
  });
  log.info(
    { github: Boolean(apis.github), gitlab: Boolean(apis.gitlab), leader: lease ? lease.isLeader() : true, intervalSec: c.RECONCILE_INTERVAL },
    "reconciler running",
  );
  void reconciler.tick();
  return {
    reconciler,
    stop: async () => {
      clearInterval(renew);
      await reconciler!.stop();
      await lease?.release();
    },
  };
}
