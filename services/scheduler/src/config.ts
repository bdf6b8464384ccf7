import { BaseEnv, envInt } from "@oneshot/runtime";
import type { z } from "zod";

/** The scheduler's configuration: environment only, parsed once at start. */
export const SchedulerEnv = BaseEnv.extend({
  /** Port of `/healthz` and `/metrics` (0: any free port). */
  SCHEDULER_HTTP_PORT: envInt(0, 65535).default(9102),
  /**
   * Boot failures one job may have: after the last one the job is `JobFailed` instead of
   * `JobRequeued`. A host lost under a job does not count (the job is not to blame).
   */
  SCHEDULER_MAX_ATTEMPTS: envInt(1, 100).default(3),
});
export type SchedulerConfig = z.infer<typeof SchedulerEnv>;
