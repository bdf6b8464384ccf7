import { subjects, type EventOf, type Resources, type Stored, type WarmShape } from "@oneshot/proto";
import { scheduled, type Decision } from "./decision.js";
import { hasLabels } from "./host-labels.js";
import { fitsIn, minus, plus } from "./resources.js";
import { allocationKey, isPlaceable, type HostView, type JobView, type SchedulerState } from "./state.js";

/**
 * Ready pool VMs (docs/warm-pool.md), as the log tells: a VmWarmed adds one, its WarmVmRetired
 * or the JobScheduled that hands it a job removes it, and so does its host leaving. A warm VM
 * holds no reservation here: hostd registers its capacity without its pools', so the pool
 * never takes capacity the scheduler gives to cold work. A job handed a warm VM runs in that
 * VM's pool slot (it borrows the slot's capacity until its VM is destroyed, and the pool
 * refills after), so a full host still hands out its warm VMs.
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
    case "HostLost":
    case "HostDeregistered":
    case "HostRegistered":
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
 * Hands pending jobs (fairness order) to ready warm VMs of their shape; returns the decisions
 * and the jobs still to boot cold. A hand-over takes nothing of the registered capacity (the
 * job borrows the warm VM's own slot), so `hosts` come back as they were. Pure.
 */
export function placeWarm(
  s: SchedulerState,
  ordered: readonly JobView[],
  now: string,
): { decisions: Decision[]; cold: JobView[]; hosts: HostView[]; taken: Set<string> } {
  if (!s.warm?.size) return { decisions: [], cold: [...ordered], hosts: [...s.hosts.values()], taken: new Set() };
  const hosts = new Map([...s.hosts.values()].map((h) => [h.hostId, { ...h }]));
  const warm = [...warmVms(s).values()].sort((a, b) => a.seq - b.seq);
  const taken = new Set<string>();
  const decisions: Decision[] = [];
  const cold: JobView[] = [];
  for (const job of ordered) {
    const w = warm.find((v) => {
      if (taken.has(v.vmId) || !shapeMatches(job, v.shape)) return false;
      const h = hosts.get(v.hostId);
      return !!h && isPlaceable(h) && hasLabels(h.labels, job.requiredLabels);
    });
    if (!w) {
      cold.push(job);
      continue;
    }
    taken.add(w.vmId);
    decisions.push(scheduledWarm(job, w, s.hostSubjectSeq.get(w.hostId) ?? 0, now));
  }
  return { decisions, cold, hosts: [...hosts.values()], taken };
}

/**
 * Cold jobs that fit on no host now, placed where destroying ready warm VMs (of shapes other
 * than theirs) makes room: the warm VMs' capacity was withheld from the host's registration, so
 * the job borrows it (`preempts`) until its VM is destroyed, and the pool slot refills after.
 * Oldest warm VMs go first; a host is chosen by the fewest VMs destroyed. Never past capacity:
 * the room is the host's free registered capacity plus exactly the destroyed VMs' shapes. Pure.
 */
export function placePreempting(s: SchedulerState, waiting: readonly JobView[], hosts: readonly HostView[], taken: Set<string>, now: string): Decision[] {
  if (!s.warm?.size || !waiting.length) return [];
  const room = new Map(hosts.map((h) => [h.hostId, { ...h }]));
  const decisions: Decision[] = [];
  for (const job of waiting) {
    let best: { host: HostView; victims: WarmVm[] } | undefined;
    for (const h of room.values()) {
      if (!isPlaceable(h) || h.arch !== job.spec.arch || !h.images.includes(job.spec.image) || !hasLabels(h.labels, job.requiredLabels)) continue;
      let free = minus(h.capacity, h.used);
      const victims: WarmVm[] = [];
      for (const w of [...warmVms(s).values()].sort((a, b) => a.seq - b.seq)) {
        if (fitsIn(job.spec, free)) break;
        if (w.hostId !== h.hostId || taken.has(w.vmId) || shapeMatches(job, w.shape)) continue;
        victims.push(w);
        free = plus(free, w.shape);
      }
      if (!victims.length || !fitsIn(job.spec, free)) continue;
      if (!best || victims.length < best.victims.length) best = { host: h, victims };
    }
    if (!best) continue;
    for (const v of best.victims) taken.add(v.vmId);
    const lent = best.victims.reduce((r, v) => plus(r, v.shape), { vcpus: 0, memMiB: 0, diskGiB: 0 });
    // What the registered capacity holds of this job: its spec less what it borrows.
    best.host.used = plus(best.host.used, clampZero(minus(job.spec, lent)));
    const d = scheduled(job, best.host.hostId, s.hostSubjectSeq.get(best.host.hostId) ?? 0, now);
    if (d.event.type === "JobScheduled") d.event.data.preempts = best.victims.map((v) => ({ vmId: v.vmId, shape: v.shape }));
    decisions.push(d);
  }
  return decisions;
}

const clampZero = (r: Resources): Resources => ({ vcpus: Math.max(0, r.vcpus), memMiB: Math.max(0, r.memMiB), diskGiB: Math.max(0, r.diskGiB) });

/**
 * A placement that borrows pool capacity — a warm VM handed the job (its own slot), or warm VMs
 * preempted for a cold boot — reserves only the rest of its spec of the registered capacity (so
 * VmDestroyed, whichever path frees it, gives back exactly what it took there).
 */
export function applyPreemption(s: SchedulerState, e: Stored<EventOf<"JobScheduled">>): void {
  const preempts = e.data.preempts ?? [];
  const warm = e.data.start === "warm";
  if (!preempts.length && !warm) return;
  for (const p of preempts) warmVms(s).delete(p.vmId);
  const a = s.allocations.get(allocationKey(e.data.hostId, e.data.vmId));
  if (!a || a.jobId !== e.data.jobId || a.attempt !== e.data.attempt || a.lent) return;
  const lent = preempts.reduce(
    (r, p) => plus(r, p.shape),
    warm ? { vcpus: e.data.spec.vcpus, memMiB: e.data.spec.memMiB, diskGiB: e.data.spec.diskGiB } : { vcpus: 0, memMiB: 0, diskGiB: 0 },
  );
  const held = clampZero(minus(a.res, lent));
  const host = s.hosts.get(a.hostId);
  if (host) host.used = plus(minus(host.used, a.res), held);
  a.res = held;
  a.lent = true;
}

/** JobScheduled handing `job` to warm VM `w`: same dedupe id as a cold placement of this attempt (one placement per attempt). */
export function scheduledWarm(job: JobView, w: WarmVm, hostSubjectSeq: number, now: string): Decision {
  const { jobId, attempt, spec } = job;
  return {
    event: {
      type: "JobScheduled",
      data: { jobId, hostId: w.hostId, vmId: w.vmId, spec, attempt, start: "warm", ...(job.script !== undefined ? { script: job.script } : {}) },
    },
    subject: subjects.host(w.hostId),
    msgId: `sched:${jobId}:${attempt}`,
    expectedLastSubjectSeq: hostSubjectSeq,
    correlationId: job.correlationId,
    causationId: job.causationId,
    occurredAt: now,
  };
}

/** Copies of `hosts` with the specs `assigned` to them added to `used` (the room left after a round's cold placements). */
export function withAssigned(hosts: readonly HostView[], assigned: readonly (readonly [JobView, string])[]): HostView[] {
  const by = new Map(hosts.map((h) => [h.hostId, { ...h }]));
  for (const [job, hostId] of assigned) {
    const h = by.get(hostId);
    if (h) h.used = plus(h.used, job.spec);
  }
  return [...by.values()];
}
