import { hostname } from "node:os";
import { SNAPSHOT_BUCKET, SnapshotStore, bootService, ensureKv, leaseTtlOf, newEventId } from "@oneshot/runtime";
import { SchedulerEnv } from "./config.js";
import { schedulerMetrics } from "./loop/metrics.js";
import { startScheduler } from "./loop/scheduler.js";
import { startFleetMetrics } from "./loop/fleet-metrics.js";

// Places queued jobs on hosts. Any number of instances may run: the one holding the lease
// decides, the others follow the log and take over when it lapses; appends with expected
// sequences and message ids still keep a stalled former leader from placing a job twice.
const svc = await bootService("scheduler", SchedulerEnv);
const leaseKv = await ensureKv(svc.nats, "scheduler", { ttlMs: svc.config.SCHEDULER_LEASE_TTL * 1000 });
const leaseTtlMs = await leaseTtlOf(leaseKv, {
  bucket: "scheduler",
  configuredMs: svc.config.SCHEDULER_LEASE_TTL * 1000,
  envName: "SCHEDULER_LEASE_TTL",
  log: svc.log,
});
const snapshotEvery = svc.config.SCHEDULER_SNAPSHOT_EVERY;
// Without the bucket (an identity that may not create it, before `oneshot admin init`): no snapshots, full replays.
const snapshotKv =
  snapshotEvery > 0
    ? await ensureKv(svc.nats, SNAPSHOT_BUCKET).catch(
        (e: unknown) => void svc.log.warn({ err: e, bucket: SNAPSHOT_BUCKET }, "snapshot bucket unavailable: every start replays the whole log"),
      )
    : undefined;
const scheduler = await startScheduler({
  store: svc.store,
  log: svc.log,
  metrics: schedulerMetrics(svc.registry),
  policy: {
    maxAttempts: svc.config.SCHEDULER_MAX_ATTEMPTS,
    idleDeadlineMs: svc.config.SCHEDULER_IDLE_DEADLINE * 1000,
    vanishedPolicy: svc.config.SCHEDULER_VANISHED_POLICY,
  },
  clock: () => new Date(),
  newId: newEventId,
  lease: { kv: leaseKv, holder: svc.config.SCHEDULER_INSTANCE_ID ?? `${hostname()}-${process.pid}`, ttlMs: leaseTtlMs },
  ...(snapshotKv
    ? {
        snapshots: {
          store: new SnapshotStore(snapshotKv, "scheduler"),
          policy: { everyEvents: snapshotEvery, everyMs: svc.config.SCHEDULER_SNAPSHOT_SECONDS * 1000 },
        },
      }
    : {}),
  onFatal: (e) => {
    svc.log.fatal({ err: e }, "event log follow failed");
    void svc.shutdown.run(1);
  },
});
svc.shutdown.add("scheduler", () => scheduler.stop());
svc.shutdown.add("fleet-metrics", await startFleetMetrics({ registry: svc.registry, store: svc.store, state: scheduler.state, log: svc.log }));
await svc.startOps(svc.config.SCHEDULER_HTTP_PORT, [{ name: "event-log", check: () => scheduler.caughtUp() }]);
svc.log.info(
  {
    maxAttempts: svc.config.SCHEDULER_MAX_ATTEMPTS,
    idleDeadlineSec: svc.config.SCHEDULER_IDLE_DEADLINE,
    vanishedPolicy: svc.config.SCHEDULER_VANISHED_POLICY,
  },
  "scheduler running",
);
