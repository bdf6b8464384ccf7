import { subjects, type EventOf, type Stored, type WarmShape } from "@oneshot/proto";
import type { Decision } from "./decision.js";
import { hasLabels } from "./host-labels.js";
import { fitsIn, minus, plus } from "./resources.js";
import { isPlaceable, type HostView, type JobView, type SchedulerState } from "./state.js";

/**
 * Ready pool VMs (docs/warm-pool.md), as the log tells: a VmWarmed adds one, its WarmVmRetired
 * or the JobScheduled that hands it a job removes it, and so does its host leaving. A warm VM
 * holds no reservation here: hostd registers its capacity without its pools', so the pool
 * never takes capacity the scheduler gives to cold work; a job handed to one reserves its
 * spec as any placement does.
 */
export interface WarmVm {
  hostId: string;
  vmId: string;
  shape: WarmShape;
  /** Stream sequence of its VmWarmed: the oldest is handed out first (it is recycled first anyway). */
  seq: number;
}

type WarmEvent = Stored<EventOf<"VmWarmed" | "WarmVmRetired" | "JobScheduled" | "HostLost" | "HostDeregistered" | "HostRegistered">>;

/** The warm VMs of a state (created on first use: states from before warm pools have none). */
export function warmVms(s: SchedulerState): Map<string, WarmVm> {
  s.warm ??= new Map();
  return s.warm;
}

export function applyWarmEvent(s: SchedulerState, e: WarmEvent): void {
  const warm = warmVms(s);
  switch (e.type) {
    case "VmWarmed":
      warm.set(e.data.vmId, { hostId: e.data.hostId, vmId: e.data.vmId, shape: e.data.shape, seq: e.seq });
      return;
    case "WarmVmRetired":
      warm.delete(e.data.vmId);
      return;
    case "JobScheduled":
      if (e.data.start === "warm") warm.delete(e.data.vmId);
      return;
    case "HostLost": case "HostDeregistered": case "HostRegistered":
      // A restarted hostd retired its pool before registering; a lost host's pool is not handed out.
      for (const [vmId, w] of warm) if (w.hostId === e.data.hostId) warm.delete(vmId);
      return;
    default: {
      const _never: never = e;
      void _never;
    }
  }
}

/** Whether a job asks for exactly a pool's shape (its timeout and rate are the job's own). */
export const shapeMatches = (job: JobView, w: WarmShape): boolean =>
  job.spec.arch === w.arch && job.spec.vcpus === w.vcpus && job.spec.memMiB === w.memMiB && job.spec.diskGiB === w.diskGiB && job.spec.image === w.image;

/**
 * Hands pending jobs (fairness order) to ready warm VMs of their shape on hosts where they fit
 * now; returns the decisions and the jobs still to boot cold. `hosts` come back with the room
 * the warm placements took, for the cold assignment that follows. Pure.
 */
export function placeWarm(s: SchedulerState, ordered: readonly JobView[], now: string): { decisions: Decision[]; cold: JobView[]; hosts: HostView[] } {
  if (!s.warm?.size) return { decisions: [], cold: [...ordered], hosts: [...s.hosts.values()] };
  const hosts = new Map([...s.hosts.values()].map((h) => [h.hostId, { ...h }]));
  const warm = [...warmVms(s).values()].sort((a, b) => a.seq - b.seq);
  const taken = new Set<string>();
  const decisions: Decision[] = [];
  const cold: JobView[] = [];
  for (const job of ordered) {
    const w = warm.find((v) => {
      if (taken.has(v.vmId) || !shapeMatches(job, v.shape)) return false;
      const h = hosts.get(v.hostId);
      return !!h && isPlaceable(h) && hasLabels(h.labels, job.requiredLabels) && fitsIn(job.spec, minus(h.capacity, h.used));
    });
    if (!w) {
      cold.push(job);
      continue;
    }
    taken.add(w.vmId);
    const h = hosts.get(w.hostId)!;
    h.used = plus(h.used, job.spec);
    decisions.push(scheduledWarm(job, w, s.hostSubjectSeq.get(w.hostId) ?? 0, now));
  }
  return { decisions, cold, hosts: [...hosts.values()] };
}

/** JobScheduled handing `job` to warm VM `w`: same dedupe id as a cold placement of this attempt (one placement per attempt). */
export function scheduledWarm(job: JobView, w: WarmVm, hostSubjectSeq: number, now: string): Decision {
  const { jobId, attempt, spec } = job;
  return {
    event: { type: "JobScheduled", data: { jobId, hostId: w.hostId, vmId: w.vmId, spec, attempt, start: "warm", ...(job.script !== undefined ? { script: job.script } : {}) } },
    subject: subjects.host(w.hostId),
    msgId: `sched:${jobId}:${attempt}`,
    expectedLastSubjectSeq: hostSubjectSeq,
    correlationId: job.correlationId,
    causationId: job.causationId,
    occurredAt: now,
  };
}
