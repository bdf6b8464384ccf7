import { bootService, ensureKv } from "@oneshot/runtime";
import { JanitorEnv, movedVariables } from "./config.js";
import { startJanitor } from "./janitor.js";

// Finds and reclaims leaked VMs, taps, disks, nft rules and run dirs; declares lost hosts.
// Every instance follows the log and telemetry; the one holding the lease acts.
const svc = await bootService("janitor", JanitorEnv);
const moved = movedVariables(process.env);
if (Object.keys(moved).length) svc.log.warn({ moved }, "ignoring janitor variables that moved to the scheduler; set the scheduler's instead");
const kv = await ensureKv(svc.nats, "janitor", { ttlMs: svc.config.JANITOR_LEASE_TTL * 1000 });
const janitor = await startJanitor({
  nats: svc.nats, store: svc.store, kv, config: svc.config, log: svc.log, registry: svc.registry, clock: () => Date.now(),
  onFatal: (e) => {
    svc.log.fatal({ err: e }, "event log follow failed");
    void svc.shutdown.run(1);
  },
});
svc.shutdown.add("janitor", () => janitor.stop());
await svc.startOps(svc.config.JANITOR_HTTP_PORT, [{ name: "event-log", check: () => janitor.caughtUp() }]);
svc.log.info({ leader: janitor.isLeader() }, "janitor running");
