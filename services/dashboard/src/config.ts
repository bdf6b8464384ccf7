import { BaseEnv, envInt } from "@oneshot/runtime";
import { z } from "zod";

/** The dashboard's configuration: environment only, parsed once at start. */
export const DashboardEnv = BaseEnv.extend({
  /** Port of the web app (and its `/healthz`). */
  DASHBOARD_PORT: envInt(0, 65535).default(9110),
  /**
   * Address to listen on. Loopback by default: the read-only pages show every job's repo and
   * console, so exposing them is a choice (compose sets 0.0.0.0 behind its port mapping).
   */
  DASHBOARD_HOST: z.string().min(1).default("127.0.0.1"),
  /**
   * A file holding the admin token an operator signs in with (cordon, uncordon, drain, cancel).
   * Unset: the dashboard is read-only for everyone. Read once at start; never logged.
   */
  DASHBOARD_ADMIN_TOKEN_FILE: z.string().min(1).optional(),
  /** How long a sign-in lasts, in seconds. */
  DASHBOARD_SESSION_TTL: envInt(60, 7 * 86_400).default(8 * 3600),
  /** Jobs whose timelines are kept in memory (the oldest finished ones are forgotten first). */
  DASHBOARD_JOBS_KEPT: envInt(10, 100_000).default(500),
  /** Events kept for the event log page. */
  DASHBOARD_EVENTS_KEPT: envInt(10, 100_000).default(300),
});
export type DashboardConfig = z.infer<typeof DashboardEnv>;
