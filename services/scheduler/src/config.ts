import { BaseEnv, envInt } from "@oneshot/runtime";
import { z } from "zod";

/** The scheduler's configuration: environment only, parsed once at start. */
export const SchedulerEnv = BaseEnv.extend({
  /** Port of `/healthz` and `/metrics` (0: any free port). */
  SCHEDULER_HTTP_PORT: envInt(0, 65535).default(9102),
  /**
   * Boot failures one job may have (a VM that failed to boot, or that ended before any job ran
   * on it, or a local job's VM that vanished): after the last one the job is `JobFailed`
   * instead of `JobRequeued`. A host lost under a job, or a runner of another job taking its
   * VM, does not count (the job is not to blame).
   */
  SCHEDULER_MAX_ATTEMPTS: envInt(1, 100).default(3),
  /**
   * Seconds after its boot a VM may go without a running job before the scheduler declares it
   * idle (`VmIdle`, reason "idle deadline"): the reconciler then asks the provider and retires
   * it, and its claim, if any, looks for another VM.
   */
  SCHEDULER_IDLE_DEADLINE: envInt(10, 86_400).default(600),
  /**
   * A local job whose VM vanished under it (the janitor's `VmVanished`: its VMM died, hostd
   * restarted without it): `requeue` appends JobRequeued (the next attempt, as after a failed
   * boot) until SCHEDULER_MAX_ATTEMPTS, then JobFailed; `fail` appends JobFailed at once.
   */
  SCHEDULER_VANISHED_POLICY: z.enum(["requeue", "fail"]).default("requeue"),
  /**
   * Write a snapshot of the scheduler's state (KV bucket `snapshots`, key `scheduler.head`)
   * after this many events (0: no snapshots: every start replays the whole log). A start reads
   * the newest snapshot this version wrote and replays only the events after it.
   */
  SCHEDULER_SNAPSHOT_EVERY: envInt(0, 100_000_000).default(20_000),
  /** ...or at the first event this many seconds after the last snapshot (0: by count only). */
  SCHEDULER_SNAPSHOT_SECONDS: envInt(0, 86_400).default(300),
  /**
   * Seconds a scheduler's leadership lasts without renewal (KV bucket `scheduler`, key
   * `leader`, whose TTL this is). One instance decides; the others follow the log and take
   * over when its lease lapses (a graceful stop hands it over at once). A kill -9 of the leader
   * delays placements by at most this long.
   */
  SCHEDULER_LEASE_TTL: envInt(2, 300).default(6),
  /** Names this instance in the lease (default: hostname-pid). */
  SCHEDULER_INSTANCE_ID: z.string().min(1).max(128).optional(),
});
export type SchedulerConfig = z.infer<typeof SchedulerEnv>;
