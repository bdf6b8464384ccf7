import { bootService, newEventId } from "@oneshot/runtime";
import { SchedulerEnv } from "./config.js";
import { schedulerMetrics } from "./loop/metrics.js";
import { startScheduler } from "./loop/scheduler.js";

// Places queued jobs on hosts. Any number of instances may run: appends with expected
// sequences and message ids keep them from overbooking a host or placing a job twice.
const svc = await bootService("scheduler", SchedulerEnv);
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
  onFatal: (e) => {
    svc.log.fatal({ err: e }, "event log follow failed");
    void svc.shutdown.run(1);
  },
});
svc.shutdown.add("scheduler", () => scheduler.stop());
await svc.startOps(svc.config.SCHEDULER_HTTP_PORT, [{ name: "event-log", check: () => scheduler.caughtUp() }]);
svc.log.info({
  maxAttempts: svc.config.SCHEDULER_MAX_ATTEMPTS, idleDeadlineSec: svc.config.SCHEDULER_IDLE_DEADLINE, vanishedPolicy: svc.config.SCHEDULER_VANISHED_POLICY,
}, "scheduler running");
