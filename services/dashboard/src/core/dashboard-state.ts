import type { DomainEvent, HostHeartbeat, Stored, WarmShape } from "@oneshot/proto";
import { applyToFleet, emptyFleet, summary, type Fleet } from "@oneshot/cli/read-models";

/** One event as the browser sees it: the documented `--json` fields and its one-line summary. */
export interface TimelineEvent {
  seq: number;
  subject: string;
  type: string;
  time: string;
  correlationId: string;
  causationId: string | null;
  summary: string;
}

/** A host's latest heartbeat and when this process received it (its own clock, not the host's). */
export interface HeartbeatSeen {
  data: HostHeartbeat["data"];
  receivedAt: number;
}

/**
 * The dashboard's read model: the CLI's fleet fold (`oneshot jobs` / `hosts`), plus what only
 * a dashboard needs: each job's correlated timeline, the recent event log and the hosts'
 * heartbeats. Bounded: the log is forever, the dashboard keeps the last `jobsKept` jobs'
 * timelines and the last `eventsKept` events.
 */
export interface DashboardState {
  fleet: Fleet;
  /** Each job's correlation id: the one its first event carried (the webhook delivery or CLI request). */
  correlationOf: Map<string, string>;
  /** Jobs sharing a correlation id (one webhook delivery may concern several). */
  jobsOf: Map<string, Set<string>>;
  /** Per job, every event with its correlation id or naming it, in log order. */
  timelines: Map<string, TimelineEvent[]>;
  /** Job ids in order of first sight: the oldest finished ones are forgotten first. */
  jobOrder: string[];
  recentEvents: TimelineEvent[];
  heartbeats: Map<string, HeartbeatSeen>;
  /** Ready pool VMs by vmId (docs/warm-pool.md): the CLI's fold has no warm pools. */
  warm: Map<string, { hostId: string; shape: WarmShape }>;
  lastSeq: number;
  limits: { jobsKept: number; eventsKept: number; timelineKept: number };
}

export const emptyDashboard = (limits: Partial<DashboardState["limits"]> = {}): DashboardState => ({
  fleet: emptyFleet(),
  correlationOf: new Map(),
  jobsOf: new Map(),
  timelines: new Map(),
  jobOrder: [],
  recentEvents: [],
  heartbeats: new Map(),
  warm: new Map(),
  lastSeq: 0,
  limits: { jobsKept: 500, eventsKept: 200, timelineKept: 500, ...limits },
});

export const FINISHED = new Set(["ignored", "completed", "cancelled", "failed"]);

const jobIdOf = (e: DomainEvent): string | undefined => (e.data as { jobId?: string }).jobId;

export function timelineEvent(e: Stored<DomainEvent>): TimelineEvent {
  return {
    seq: e.seq,
    subject: e.subject,
    type: e.type,
    time: e.occurredAt,
    correlationId: e.correlationId,
    causationId: e.causationId,
    summary: summary(e),
  };
}

/** Folds one stored event into the state (mutates and returns it, like the CLI's fold). */
export function applyEvent(s: DashboardState, e: Stored<DomainEvent>): DashboardState {
  if (e.seq <= s.lastSeq) return s; // a follow restarted from an earlier sequence: already applied
  s.lastSeq = e.seq;
  applyToFleet(s.fleet, e);
  applyWarm(s, e);
  const t = timelineEvent(e);
  s.recentEvents.push(t);
  if (s.recentEvents.length > s.limits.eventsKept) s.recentEvents.splice(0, s.recentEvents.length - s.limits.eventsKept);

  const jobId = jobIdOf(e);
  if (jobId !== undefined && !s.correlationOf.has(jobId)) {
    s.correlationOf.set(jobId, e.correlationId);
    let set = s.jobsOf.get(e.correlationId);
    if (!set) s.jobsOf.set(e.correlationId, (set = new Set()));
    set.add(jobId);
    s.timelines.set(jobId, []);
    s.jobOrder.push(jobId);
    forgetOldJobs(s);
  }
  const to = new Set(s.jobsOf.get(e.correlationId) ?? []);
  if (jobId !== undefined && s.timelines.has(jobId)) to.add(jobId);
  for (const j of to) {
    const tl = s.timelines.get(j);
    if (!tl) continue;
    tl.push(t);
    if (tl.length > s.limits.timelineKept) tl.splice(0, tl.length - s.limits.timelineKept);
  }
  return s;
}

/**
 * The scheduler's rule for ready warm VMs (services/scheduler/src/core/warm-vms.ts): a VmWarmed
 * adds one; its WarmVmRetired, the JobScheduled that hands it a job, its VmDestroyed or its
 * host leaving (lost, deregistered, registered again after a restart) removes it.
 */
function applyWarm(s: DashboardState, e: Stored<DomainEvent>): void {
  switch (e.type) {
    case "VmWarmed":
      s.warm.set(e.data.vmId, { hostId: e.data.hostId, shape: e.data.shape });
      break;
    case "WarmVmRetired":
    case "VmDestroyed":
      s.warm.delete(e.data.vmId);
      break;
    case "JobScheduled":
      if (e.data.start === "warm") s.warm.delete(e.data.vmId);
      break;
    case "HostLost":
    case "HostDeregistered":
    case "HostRegistered":
      for (const [vmId, w] of s.warm) if (w.hostId === e.data.hostId) s.warm.delete(vmId);
      break;
    default:
      break;
  }
}

/** Drops the oldest finished jobs past `jobsKept` (a job still in flight is never forgotten). */
function forgetOldJobs(s: DashboardState): void {
  let excess = s.jobOrder.length - s.limits.jobsKept;
  for (let i = 0; excess > 0 && i < s.jobOrder.length;) {
    const jobId = s.jobOrder[i]!;
    const row = s.fleet.jobs.get(jobId);
    if (row && !FINISHED.has(row.state)) {
      i++;
      continue;
    }
    s.jobOrder.splice(i, 1);
    s.timelines.delete(jobId);
    s.fleet.jobs.delete(jobId);
    const corr = s.correlationOf.get(jobId);
    s.correlationOf.delete(jobId);
    const set = corr === undefined ? undefined : s.jobsOf.get(corr);
    set?.delete(jobId);
    if (corr !== undefined && set?.size === 0) s.jobsOf.delete(corr);
    excess--;
  }
}

/** A heartbeat counts only on its own host's subject (a host speaks only for itself). */
export function applyHeartbeat(s: DashboardState, data: HostHeartbeat["data"], subject: string, receivedAt: number): DashboardState {
  if (subject !== `tel.host.${data.hostId}.heartbeat`) return s;
  s.heartbeats.set(data.hostId, { data, receivedAt });
  return s;
}
