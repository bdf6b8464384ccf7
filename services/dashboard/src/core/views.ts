import type { HostRow, JobRow } from "@oneshot/cli/read-models";
import { FINISHED, type DashboardState, type TimelineEvent } from "./dashboard-state.js";

/**
 * What each page shows, computed from the state and the time of the answer: the browser only
 * renders these. Pure: `now` is an input.
 */

/** Where a live job is: waiting for a host, placed on one (booting), or running. */
export type QueueStage = "waiting" | "placed" | "running";

export const stageOf = (state: JobRow["state"]): QueueStage | undefined => {
  switch (state) {
    case "queued":
    case "unschedulable":
      return "waiting";
    case "scheduled":
    case "booting":
      return "placed";
    case "running":
    case "exited":
      return "running";
    case "ignored":
    case "completed":
    case "cancelled":
    case "failed":
      return undefined;
    default: {
      const never: never = state;
      return never;
    }
  }
};

export interface QueueRow {
  jobId: string;
  repo: string;
  provider: string;
  arch: string | undefined;
  state: JobRow["state"];
  stage: QueueStage;
  hostId: string | undefined;
  vmId: string | undefined;
  /** Seconds since the job was queued (or first seen), at `now`. */
  ageSec: number;
  reason: string | undefined;
}

export interface QueueView {
  waiting: QueueRow[];
  placed: QueueRow[];
  running: QueueRow[];
}

const ageSec = (since: string | undefined, now: number): number => {
  const t = since === undefined ? NaN : Date.parse(since);
  return Number.isNaN(t) ? 0 : Math.max(0, Math.floor((now - t) / 1000));
};

export function queueView(s: DashboardState, now: number): QueueView {
  const out: QueueView = { waiting: [], placed: [], running: [] };
  for (const j of s.fleet.jobs.values()) {
    const stage = stageOf(j.state);
    if (!stage) continue;
    out[stage].push({
      jobId: j.jobId,
      repo: j.repo,
      provider: j.provider,
      arch: j.arch,
      state: j.state,
      stage,
      hostId: j.hostId,
      vmId: j.vmId,
      ageSec: ageSec(j.queuedAt ?? j.updatedAt, now),
      reason: j.reason,
    });
  }
  // Oldest first: the job waiting longest is the one an operator looks for.
  for (const rows of [out.waiting, out.placed, out.running]) rows.sort((a, b) => b.ageSec - a.ageSec || a.jobId.localeCompare(b.jobId));
  return out;
}

export interface HostView extends HostRow {
  /** 0-100, rounded: the width of the capacity bars. */
  cpuPct: number;
  memPct: number;
  heartbeat: { ageSec: number; runningVms: number; uptimeSec: number; draining: boolean } | undefined;
  /** Ready pool VMs on the host, per shape (`2cpu/1024MiB/minimal`), when it keeps a warm pool. */
  warm: { ready: number; shapes: Record<string, number> } | undefined;
}

const pct = (used: number, total: number) => (total > 0 ? Math.min(100, Math.round((used / total) * 100)) : 0);

function warmOf(s: DashboardState, hostId: string): HostView["warm"] {
  const shapes: Record<string, number> = {};
  let ready = 0;
  for (const w of s.warm.values()) {
    if (w.hostId !== hostId) continue;
    const key = `${w.shape.arch} ${w.shape.vcpus}cpu/${w.shape.memMiB}MiB/${w.shape.image}`;
    shapes[key] = (shapes[key] ?? 0) + 1;
    ready++;
  }
  return ready ? { ready, shapes } : undefined;
}

export function hostsView(s: DashboardState, now: number): HostView[] {
  return [...s.fleet.hosts.values()]
    .map((h) => {
      const hb = s.heartbeats.get(h.hostId);
      return {
        ...h,
        cpuPct: pct(h.used.vcpus, h.capacity.vcpus),
        memPct: pct(h.used.memMiB, h.capacity.memMiB),
        heartbeat: hb && {
          ageSec: Math.max(0, Math.floor((now - hb.receivedAt) / 1000)),
          runningVms: hb.data.runningVms,
          uptimeSec: hb.data.uptimeSec,
          draining: hb.data.draining,
        },
        warm: warmOf(s, h.hostId),
      };
    })
    .sort((a, b) => a.hostId.localeCompare(b.hostId));
}

export type Outcome = "succeeded" | "failed" | "cancelled" | "ignored" | "in progress";

/** A job's outcome as a person reads it; the exit code comes from hostd's VmExited or the provider. */
export function outcomeOf(j: JobRow): Outcome {
  switch (j.state) {
    case "completed":
      if (j.exitCode !== undefined && j.exitCode !== null) return j.exitCode === 0 ? "succeeded" : "failed";
      return j.reason === "success" ? "succeeded" : j.reason === "cancelled" ? "cancelled" : "failed";
    case "failed":
      return "failed";
    case "cancelled":
      return "cancelled";
    case "ignored":
      return "ignored";
    default:
      return "in progress";
  }
}

export interface RecentJob {
  jobId: string;
  repo: string;
  provider: string;
  state: JobRow["state"];
  outcome: Outcome;
  exitCode: number | null | undefined;
  hostId: string | undefined;
  reason: string | undefined;
  queuedAt: string | undefined;
  updatedAt: string;
}

/** The newest jobs first, finished or not, with their outcome. */
export function recentJobsView(s: DashboardState, limit = 50): RecentJob[] {
  const out: RecentJob[] = [];
  for (let i = s.jobOrder.length - 1; i >= 0 && out.length < limit; i--) {
    const j = s.fleet.jobs.get(s.jobOrder[i]!);
    if (!j) continue;
    out.push({
      jobId: j.jobId,
      repo: j.repo,
      provider: j.provider,
      state: j.state,
      outcome: outcomeOf(j),
      exitCode: j.exitCode,
      hostId: j.hostId,
      reason: j.reason,
      queuedAt: j.queuedAt,
      updatedAt: j.updatedAt,
    });
  }
  return out;
}

export interface JobView {
  job: RecentJob & { vmId: string | undefined; arch: string | undefined; finished: boolean; ageSec: number };
  correlationId: string | undefined;
  timeline: TimelineEvent[];
  /** Where its guest console is (stream LOGS), once it has a VM. */
  console: { hostId: string; vmId: string } | undefined;
}

export function jobView(s: DashboardState, jobId: string, now: number): JobView | undefined {
  const j = s.fleet.jobs.get(jobId);
  if (!j) return undefined;
  return {
    job: {
      jobId: j.jobId,
      repo: j.repo,
      provider: j.provider,
      state: j.state,
      outcome: outcomeOf(j),
      exitCode: j.exitCode,
      hostId: j.hostId,
      vmId: j.vmId,
      arch: j.arch,
      reason: j.reason,
      queuedAt: j.queuedAt,
      updatedAt: j.updatedAt,
      finished: FINISHED.has(j.state),
      ageSec: ageSec(j.queuedAt ?? j.updatedAt, now),
    },
    correlationId: s.correlationOf.get(jobId),
    timeline: s.timelines.get(jobId) ?? [],
    console: j.hostId && j.vmId ? { hostId: j.hostId, vmId: j.vmId } : undefined,
  };
}

export interface Snapshot {
  serverTime: string;
  lastSeq: number;
  caughtUp: boolean;
  queue: QueueView;
  hosts: HostView[];
  recent: RecentJob[];
  /** The newest events first. */
  events: TimelineEvent[];
}

export function snapshot(s: DashboardState, now: number, caughtUp: boolean): Snapshot {
  return {
    serverTime: new Date(now).toISOString(),
    lastSeq: s.lastSeq,
    caughtUp,
    queue: queueView(s, now),
    hosts: hostsView(s, now),
    recent: recentJobsView(s),
    events: [...s.recentEvents].reverse(),
  };
}
