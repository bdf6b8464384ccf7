import { BaseEnv, envBool, envInt } from "@oneshot/runtime";
import { z } from "zod";
import type { LeakSettings } from "./core/plan.js";

/** The janitor's configuration: environment only, parsed once at start. Durations in seconds. */
export const JanitorEnv = BaseEnv.extend({
  /** Port of `/healthz` and `/metrics`. */
  JANITOR_HTTP_PORT: envInt(0, 65535).default(9104),
  /**
   * A host whose last heartbeat is this old is declared lost (`HostLost`; the scheduler
   * requeues its jobs). Also the age past which an inventory is too old to act on.
   * Keep it several times hostd's HOSTD_HEARTBEAT_INTERVAL (default 5).
   */
  JANITOR_HOST_LOST_AFTER: envInt(2, 86_400).default(60),
  /**
   * Fence wait: after declaring a host lost, how long to wait for its HostFenced before stating
   * HostLeaseExpired (the scheduler then requeues its jobs). A host that cannot renew its lease
   * stops its VMs HOSTD_FENCE_AFTER after its last acknowledged heartbeat, so keep
   * JANITOR_HOST_LOST_AFTER + JANITOR_FENCE_WAIT above HOSTD_FENCE_AFTER plus its kill time
   * (a few seconds) with a margin for clock rates (docs/fencing.md).
   */
  JANITOR_FENCE_WAIT: envInt(0, 86_400).default(30),
  /**
   * A placement (JobScheduled) its host has not claimed (VmBootRequested) this long after it
   * was placed is stated expired (PlacementExpired), which frees its capacity. 0: never.
   */
  JANITOR_PLACEMENT_TIMEOUT: envInt(0, 86_400).default(300),
  /**
   * Boot grace: how long a VM may take to boot, or to show up in the event log, before it
   * counts as vanished / unknown, and the slack past a job's timeout before its VM is
   * reaped. Generous under TCG (software emulation), where guests boot slowly; keep it above
   * hostd's HOSTD_TIMEOUT_GRACE so hostd's own timeout kill always goes first.
   */
  JANITOR_GRACE: envInt(0, 86_400).default(120),
  /**
   * Destroy grace: how long hostd gets, after the log says a VM ended (job done, VM exited,
   * host lost…), to remove it itself, and to log the exit of a VM process it just saw die.
   */
  JANITOR_DESTROY_GRACE: envInt(0, 3_600).default(10),
  /** How often the janitor compares the log with the latest inventories. */
  JANITOR_INTERVAL: envInt(1, 3_600).default(5),
  /** A ReclaimRequested hostd has not answered after this long is escalated (log + janitor_reclaim_stuck_total). */
  JANITOR_RECLAIM_TIMEOUT: envInt(1, 86_400).default(60),
  /** Reclaim requests per resource; a resource still there after that many is only escalated. */
  JANITOR_RECLAIM_ATTEMPTS: envInt(1, 100).default(3),
  /**
   * Leader lease TTL: the leader renews its key in KV bucket `janitor` every TTL/3; when it
   * dies the key expires and a standby takes over within about one TTL.
   */
  JANITOR_LEASE_TTL: envInt(2, 600).default(15),
  /**
   * Write a snapshot of the desired state (KV bucket `snapshots`, key `janitor.head` + chunks)
   * after this many events (0: not by count). A start reads the newest snapshot this build can
   * read (same schema, same hash of core/, same stream) and replays only the events after it;
   * any other is ignored and the whole log replayed. Both this and JANITOR_SNAPSHOT_SECONDS 0:
   * no snapshots at all.
   */
  JANITOR_SNAPSHOT_EVERY: envInt(0, 100_000_000).default(20_000),
  /** ...or at the first event this many seconds after the last snapshot (0: by count only). */
  JANITOR_SNAPSHOT_SECONDS: envInt(0, 86_400).default(300),
  /**
   * Also keep the CLI's fleet read model (what `oneshot jobs` / `hosts` fold) and write its
   * snapshots (key `fleet.head`), on the same schedule: the CLI reads them but may not write
   * them (its audit identity has no KV writes). Costs one more follow of the log and the
   * model's memory (a row per job ever seen). Off, or snapshots off: the CLI replays the whole log.
   */
  JANITOR_FLEET_SNAPSHOTS: envBool.default(true),
  /** VMs that ended longer ago than this are dropped from memory (their leftovers then count as unknown). */
  JANITOR_FORGET_AFTER: envInt(3_600, 365 * 86_400).default(7 * 86_400),
  /** This instance's name in the lease (default: hostname-pid). */
  JANITOR_INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,128}$/, "must be 1-128 chars of [A-Za-z0-9_.-]")
    .optional(),
});
export type JanitorConfig = z.infer<typeof JanitorEnv>;

export function leakSettings(c: JanitorConfig): LeakSettings {
  return {
    bootGraceMs: c.JANITOR_GRACE * 1000,
    destroyGraceMs: c.JANITOR_DESTROY_GRACE * 1000,
    staleAfterMs: c.JANITOR_HOST_LOST_AFTER * 1000,
    reclaimTimeoutMs: c.JANITOR_RECLAIM_TIMEOUT * 1000,
    maxReclaimAttempts: c.JANITOR_RECLAIM_ATTEMPTS,
  };
}

/**
 * Variables the janitor no longer reads: what becomes of a job whose VM vanished is the
 * scheduler's decision now (it reads the janitor's VmVanished). Set ones are reported once at
 * start, and ignored: an old deployment file must not stop the janitor.
 */
export const MOVED_VARIABLES = {
  JANITOR_VANISHED_POLICY: "SCHEDULER_VANISHED_POLICY",
  JANITOR_MAX_ATTEMPTS: "SCHEDULER_MAX_ATTEMPTS",
} as const;

/** The moved variables set in `env`, each with the scheduler's variable that replaced it. */
export function movedVariables(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  return Object.fromEntries(Object.entries(MOVED_VARIABLES).filter(([name]) => env[name] !== undefined));
}
