import { SNAPSHOT_BUCKET, SnapshotStore, bootService, ensureKv } from "@oneshot/runtime";
import { JanitorEnv, movedVariables } from "./config.js";
import { startFleetSnapshots } from "./fleet-snapshots.js";
import { startJanitor } from "./janitor.js";

// Finds and reclaims leaked VMs, taps, disks, nft rules and run dirs; declares lost hosts.
// Every instance follows the log and telemetry; the one holding the lease acts.
const svc = await bootService("janitor", JanitorEnv);
const moved = movedVariables(process.env);
if (Object.keys(moved).length) svc.log.warn({ moved }, "ignoring janitor variables that moved to the scheduler; set the scheduler's instead");
const kv = await ensureKv(svc.nats, "janitor", { ttlMs: svc.config.JANITOR_LEASE_TTL * 1000 });
const snapshotEvery = svc.config.JANITOR_SNAPSHOT_EVERY;
// Without the bucket (an identity that may not create it, before `oneshot admin init`): no snapshots, full replays.
const snapshotKv =
  snapshotEvery > 0 || svc.config.JANITOR_SNAPSHOT_SECONDS > 0
    ? await ensureKv(svc.nats, SNAPSHOT_BUCKET).catch(
        (e: unknown) => void svc.log.warn({ err: e, bucket: SNAPSHOT_BUCKET }, "snapshot bucket unavailable: every start replays the whole log"),
      )
    : undefined;
const policy = { everyEvents: snapshotEvery, everyMs: svc.config.JANITOR_SNAPSHOT_SECONDS * 1000 };
const janitor = await startJanitor({
  ...(snapshotKv ? { snapshots: { store: new SnapshotStore(snapshotKv, "janitor"), policy } } : {}),
  nats: svc.nats,
  store: svc.store,
  kv,
  config: svc.config,
  log: svc.log,
  registry: svc.registry,
  clock: () => Date.now(),
  onFatal: (e) => {
    svc.log.fatal({ err: e }, "event log follow failed");
    void svc.shutdown.run(1);
  },
});
svc.shutdown.add("janitor", () => janitor.stop());
await svc.startOps(svc.config.JANITOR_HTTP_PORT, [{ name: "event-log", check: () => janitor.caughtUp() }]);
svc.log.info({ leader: janitor.isLeader() }, "janitor running");
// In the background: the CLI's read model must not delay the janitor's own readiness.
if (snapshotKv && svc.config.JANITOR_FLEET_SNAPSHOTS) {
  void startFleetSnapshots({
    store: svc.store,
    kv: snapshotKv,
    policy,
    log: svc.log,
    clock: () => Date.now(),
    // Only the CLI's read model: a broken follow of it is logged, and the janitor goes on judging.
    onFatal: (e) => svc.log.error({ err: e }, "fleet read model follow failed; fleet snapshots stop until restart"),
  }).then(
    (fleet) => svc.shutdown.add("fleet-snapshots", () => fleet.stop()),
    (e: unknown) => svc.log.error({ err: e }, "fleet read model not started; `oneshot jobs` replays the whole log"),
  );
}
