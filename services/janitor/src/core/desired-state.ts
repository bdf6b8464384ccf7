import type { DomainEvent, LeakedResource, Stored } from "@oneshot/proto";

/** Why the log says a VM should no longer exist. The first cause wins; later ones are history. */
export type EndCause =
  | "job-completed"
  | "job-cancelled"
  | "job-failed"
  | "job-requeued"
  | "vm-boot-failed"
  | "vm-exited"
  | "vm-destroyed"
  | "vm-retired"
  | "vm-vanished"
  | "host-lost"
  | "host-deregistered"
  | "placement-expired";

export interface VmEnd {
  cause: EndCause;
  /** When the log said so (the event's occurredAt, ms). Grace periods count from here. */
  at: number;
  detail: string;
  /** Id of the event that ended it: the causation of a reclaim. */
  eventId: string;
}

/**
 * A VM the scheduler placed, as far as the log tells. Who runs on it is a fact the provider
 * reports (`JobStarted` naming the VM), not the plan: a runner takes any job its labels cover,
 * so the VM booted for job A may run job B (docs/runner-model.md).
 */
export interface DesiredVm {
  vmId: string;
  /** The job it was booted for (JobScheduled, or the VM events' jobId). */
  jobId: string;
  hostId: string;
  attempt: number;
  /** The booted-for job's timeout; undefined when the placement was never seen (VM events only). */
  timeoutSec: number | undefined;
  /** A local job's VM (JobScheduled.script): bound to it, its running job is its booted-for job from the start. */
  bound: boolean;
  /** The job whose capacity it holds: the booted-for job at placement, moved by JobRebound, none once that job ended or was requeued. */
  claimJobId: string | undefined;
  /** When a JobRebound gave it its claim (ms); undefined: since its placement. */
  claimedAt: number | undefined;
  /** The job whose JobStarted names it (or, bound, its booted-for job). Only this job's end ends the VM. */
  runningJobId: string | undefined;
  /** When that JobStarted happened (ms); undefined for a bound VM (it runs from its boot). */
  runningSince: number | undefined;
  scheduledAt: number | undefined;
  /** hostd took ownership and started building it. */
  bootRequestedAt: number | undefined;
  bootRequestedSeq: number | undefined;
  bootedAt: number | undefined;
  /** Stream sequence of the last event on the VM's own subject (0 = none). */
  lastVmEventSeq: number;
  ended: VmEnd | undefined;
  /** The chain that placed it (JobScheduled's correlation id): decisions about it join that chain. */
  correlationId: string;
  /** Id of the placement event. */
  scheduledEventId: string | undefined;
}

export type JobStatus = "active" | "completed" | "cancelled" | "failed" | "ignored";

export interface DesiredJob {
  jobId: string;
  status: JobStatus;
  /** Last sequence of an event about the job (for debugging; the janitor writes nothing on job subjects). */
  lastSeq: number;
  /** Its timeout (JobScheduled's spec, else JobQueued's): how long a VM running it may live. */
  timeoutSec: number | undefined;
  /** The VM it claims (JobScheduled, JobRebound); cleared by a requeue or its end. */
  claimVmId: string | undefined;
  /** VMs booted for it. */
  vmIds: string[];
  /** VMs its JobStarted named (and a local job's own VM): the VMs its end ends. */
  ranOnVmIds: string[];
}

export interface DesiredHost {
  hostId: string;
  registeredAt: number;
  /** Sequence of the latest HostRegistered: hostd appends one at every start. */
  registeredSeq: number;
  registeredEventId: string;
  correlationId: string;
  /** Set by HostLost, cleared by the next HostRegistered. */
  lost: { at: number; seq: number; reason: string } | undefined;
  /** Sequence of the latest HostFenced (0: none): a fence after `lost.seq` answers it. */
  fencedSeq: number;
  /** `lost.seq` of the latest HostLeaseExpired (0: none): one per HostLost. */
  leaseExpiredFor: number;
  deregistered: boolean;
}

export interface ReclaimRecord {
  reclaimId: string;
  hostId: string;
  resources: LeakedResource[];
  requestedAt: number;
  seq: number;
  /** hostd's ResourceReclaimed. */
  answer: { at: number; failed: Map<string, string> } | undefined;
}

/** What the event log says should exist. Rebuilt by replaying EVENTS through `evolve`. */
export interface DesiredState {
  vms: Map<string, DesiredVm>;
  jobs: Map<string, DesiredJob>;
  hosts: Map<string, DesiredHost>;
  vmsByHost: Map<string, Set<string>>;
  reclaims: Map<string, ReclaimRecord>;
  /** Reclaim ids per `hostId|kind:name`, oldest first. */
  reclaimsByResource: Map<string, string[]>;
  lastSeq: number;
}

export const initialDesired = (): DesiredState => ({
  vms: new Map(),
  jobs: new Map(),
  hosts: new Map(),
  vmsByHost: new Map(),
  reclaims: new Map(),
  reclaimsByResource: new Map(),
  lastSeq: 0,
});

const at = (e: Stored<DomainEvent>): number => Date.parse(e.occurredAt);
const ENDED: JobStatus[] = ["completed", "cancelled", "failed", "ignored"];

/**
 * Folds one stored event into the state. The fold owns `state` and updates it in place
 * (a replay of millions of events must not copy maps); it is deterministic and does no I/O.
 * Applying the same stored event twice changes nothing (the janitor applies its own appends
 * at once and sees them again when the follow delivers them).
 */
export function evolve(state: DesiredState, e: Stored<DomainEvent>): DesiredState {
  state.lastSeq = Math.max(state.lastSeq, e.seq);
  switch (e.type) {
    case "JobQueued": {
      const j = job(state, e.data.jobId, e.seq);
      j.timeoutSec ??= e.data.spec.timeoutSec;
      break;
    }
    case "JobIgnored":
    case "JobUnschedulable": {
      const j = job(state, e.data.jobId, e.seq);
      if (j.status === "active") j.status = "ignored";
      break;
    }
    case "JobStarted": {
      const j = job(state, e.data.jobId, e.seq);
      // The VM is found by its id alone: hostId may be absent, and a VM id is unique.
      const vm = e.data.vmId === undefined ? undefined : state.vms.get(e.data.vmId);
      if (!vm) break;
      startOn(state, j, vm, at(e));
      // A late JobStarted (the reconciler found it after the job's end): the VM ran it, and it is over.
      if (j.status !== "active" && j.status !== "ignored") end(vm, endCauseOf(j.status), e, `job ${j.jobId} ran on it and was already ${j.status}`);
      break;
    }
    case "JobScheduled": {
      const d = e.data;
      const j = job(state, d.jobId, 0);
      j.timeoutSec = d.spec.timeoutSec;
      const vm = vmOf(state, d.vmId, d.jobId, d.hostId, e.correlationId);
      // A warm VM handed this job (docs/warm-pool.md): from now on it is the job's VM, and its
      // job's time counts from the hand-over, not from the pool fill.
      const warm = d.start === "warm";
      if (warm) vm.jobId = d.jobId;
      vm.attempt = d.attempt;
      vm.correlationId = e.correlationId;
      vm.scheduledEventId ??= e.id;
      vm.timeoutSec = d.spec.timeoutSec;
      vm.scheduledAt ??= at(e);
      if (!j.vmIds.includes(d.vmId)) j.vmIds.push(d.vmId);
      if (d.script !== undefined) {
        vm.bound = true;
        if (vm.runningJobId === undefined) startOn(state, j, vm, warm ? at(e) : undefined);
      } else if (j.status === "active") {
        claim(state, j, vm, warm ? at(e) : undefined);
      }
      // A placement for a job that already ended: only a local job's VM is bound to it; any
      // other VM's runner may take another job, and the scheduler idles it if none does.
      if (j.status !== "active" && vm.runningJobId === j.jobId) end(vm, endCauseOf(j.status), e, `job ${d.jobId} was already ${j.status} when placed`);
      const host = state.hosts.get(d.hostId);
      if (host?.lost) end(vm, "host-lost", e, `placed on host ${d.hostId}, which is lost`);
      break;
    }
    case "JobRebound": {
      const j = job(state, e.data.jobId, e.seq);
      const vm = state.vms.get(e.data.vmId);
      if (vm && j.status === "active") claim(state, j, vm, at(e));
      break;
    }
    case "JobCompleted": {
      const cancelled = e.data.conclusion === "cancelled";
      endJob(
        state,
        e,
        cancelled ? "cancelled" : "completed",
        cancelled ? "job-cancelled" : "job-completed",
        `job ${e.data.jobId} completed (${e.data.conclusion})`,
      );
      break;
    }
    case "JobCancelled":
      endJob(state, e, "cancelled", "job-cancelled", `job ${e.data.jobId} cancelled: ${e.data.reason}`);
      break;
    case "JobFailed":
      endJob(state, e, "failed", "job-failed", `job ${e.data.jobId} failed: ${e.data.reason}`);
      break;
    case "JobRequeued": {
      // v2 from the scheduler (`releasesVm: false`): the job lost its claim, the VM lives on
      // (its runner may run another job) until a fact ends it. v1 (upcast to `true`): the
      // named VM's reservation ended here, as old logs meant it.
      const j = job(state, e.data.jobId, e.seq);
      const vm = state.vms.get(e.data.vmId);
      unclaim(state, j);
      if (vm?.claimJobId === j.jobId) vm.claimJobId = undefined;
      if (vm && e.data.releasesVm) end(vm, "job-requeued", e, `job ${e.data.jobId} requeued (attempt ${e.data.attempt}): ${e.data.reason}`);
      break;
    }
    case "HostRegistered": {
      const h = state.hosts.get(e.data.hostId);
      if (h && h.registeredSeq >= e.seq) break;
      state.hosts.set(e.data.hostId, {
        hostId: e.data.hostId,
        registeredAt: at(e),
        registeredSeq: e.seq,
        registeredEventId: e.id,
        correlationId: e.correlationId,
        lost: undefined,
        fencedSeq: h?.fencedSeq ?? 0,
        leaseExpiredFor: h?.leaseExpiredFor ?? 0,
        deregistered: false,
      });
      break;
    }
    case "HostLost": {
      const h = state.hosts.get(e.data.hostId);
      if (h && (!h.lost || h.lost.seq < e.seq) && h.registeredSeq < e.seq) h.lost = { at: at(e), seq: e.seq, reason: e.data.reason };
      // Its VMs end at its fence (or lease expiry), not here: they may still run, and a restarted
      // hostd that registers again keeps the placements still waiting for room (docs/fencing.md).
      break;
    }
    case "HostFenced": {
      const h = state.hosts.get(e.data.hostId);
      if (h) h.fencedSeq = Math.max(h.fencedSeq, e.seq);
      if (h?.lost) endHostVms(state, e, "host-lost", `host ${e.data.hostId} lost (${h.lost.reason}) and fenced: ${e.data.reason}`);
      break;
    }
    case "HostLeaseExpired": {
      const h = state.hosts.get(e.data.hostId);
      if (h) h.leaseExpiredFor = Math.max(h.leaseExpiredFor, e.data.lostSeq);
      if (h?.lost) endHostVms(state, e, "host-lost", `host ${e.data.hostId} lost (${h.lost.reason}); its lease ran out: ${e.data.reason}`);
      break;
    }
    case "PlacementExpired": {
      // Void once hostd claimed it (VmBootRequested first in the log), as the scheduler reads it.
      const vm = state.vms.get(e.data.vmId);
      if (vm && vm.hostId === e.data.hostId && vm.bootRequestedSeq === undefined) end(vm, "placement-expired", e, `placement expired: ${e.data.reason}`);
      break;
    }
    case "HostDeregistered": {
      const h = state.hosts.get(e.data.hostId);
      if (h && h.registeredSeq < e.seq) h.deregistered = true;
      endHostVms(state, e, "host-deregistered", `host ${e.data.hostId} deregistered: ${e.data.reason}`);
      break;
    }
    case "HostCordoned":
    case "HostUncordoned":
    case "HostDrained":
    case "DeliveryRedelivered":
      break;
    case "VmBootRequested": {
      const vm = vmEvent(state, e);
      vm.bootRequestedAt ??= at(e);
      vm.bootRequestedSeq ??= e.seq;
      break;
    }
    case "VmBooted": {
      const vm = vmEvent(state, e);
      vm.bootedAt ??= at(e);
      break;
    }
    case "VmBootFailed":
      end(vmEvent(state, e), "vm-boot-failed", e, `boot failed (${e.data.code}): ${e.data.reason}`);
      break;
    case "VmExited":
      end(vmEvent(state, e), "vm-exited", e, `VM exited (${e.data.reason}, exit code ${e.data.exitCode ?? "none"})`);
      break;
    case "VmDestroyed":
      end(vmEvent(state, e), "vm-destroyed", e, "VM destroyed");
      break;
    case "VmRetired": {
      const vm = state.vms.get(e.data.vmId);
      if (vm) end(vm, "vm-retired", e, `VM retired: ${e.data.reason}`);
      break;
    }
    case "VmVanished": {
      const vm = state.vms.get(e.data.vmId);
      if (vm) end(vm, "vm-vanished", e, `VM vanished: ${e.data.reason}`);
      break;
    }
    case "VmIdle": // a proposal: the reconciler checks with the provider first (VmRetired or JobStarted follows)
      break;
    case "VmIsolationLost": // hostd is killing the VM: its VmExited and VmDestroyed end it here
      break;
    case "VmEgressDenied": // what the VM's egress policy dropped or recorded: nothing to reclaim
      break;
    case "VmWarmed": {
      // A pool VM (docs/warm-pool.md): wanted from its boot, held for no job until a
      // JobScheduled names it; it has no timeout of its own (hostd retires it at its max age).
      const vm = vmOf(state, e.data.vmId, warmJobId(e.data.vmId), e.data.hostId, e.correlationId);
      vm.lastVmEventSeq = Math.max(vm.lastVmEventSeq, e.seq);
      vm.bootRequestedAt ??= at(e);
      vm.bootRequestedSeq ??= e.seq;
      vm.bootedAt ??= at(e);
      break;
    }
    case "WarmVmRetired": {
      const vm = state.vms.get(e.data.vmId);
      if (vm) {
        vm.lastVmEventSeq = Math.max(vm.lastVmEventSeq, e.seq);
        end(vm, "vm-destroyed", e, `warm VM retired (${e.data.reason}): ${e.data.detail}`);
      }
      break;
    }
    case "ReclaimRequested": {
      const d = e.data;
      if (state.reclaims.has(d.reclaimId)) break;
      state.reclaims.set(d.reclaimId, { reclaimId: d.reclaimId, hostId: d.hostId, resources: d.resources, requestedAt: at(e), seq: e.seq, answer: undefined });
      for (const r of d.resources) {
        const k = `${d.hostId}|${r.kind}:${r.name}`;
        const ids = state.reclaimsByResource.get(k) ?? [];
        ids.push(d.reclaimId);
        state.reclaimsByResource.set(k, ids);
      }
      break;
    }
    case "ResourceReclaimed": {
      const r = state.reclaims.get(e.data.reclaimId);
      if (!r || r.answer) break;
      r.answer = { at: at(e), failed: new Map(e.data.failed.map((f) => [`${f.kind}:${f.name}`, f.error])) };
      break;
    }
    default: {
      // Exhaustive at compile time; at run time a type this version does not know changes
      // nothing (a projection must never crash on the log: it would crash at every restart).
      const _never: never = e;
      void _never;
    }
  }
  return state;
}

function job(state: DesiredState, jobId: string, seq: number): DesiredJob {
  let j = state.jobs.get(jobId);
  if (!j) {
    j = { jobId, status: "active", lastSeq: 0, timeoutSec: undefined, claimVmId: undefined, vmIds: [], ranOnVmIds: [] };
    state.jobs.set(jobId, j);
  }
  j.lastSeq = Math.max(j.lastSeq, seq);
  return j;
}

/** The job id a pool VM is known by until a job is handed to it (never a real job's: those have a provider prefix). */
export const warmJobId = (vmId: string): string => `warm-${vmId}`;

function vmOf(state: DesiredState, vmId: string, jobId: string, hostId: string, correlationId: string): DesiredVm {
  let vm = state.vms.get(vmId);
  if (!vm) {
    vm = {
      vmId,
      jobId,
      hostId,
      attempt: 0,
      timeoutSec: undefined,
      bound: false,
      claimJobId: undefined,
      claimedAt: undefined,
      runningJobId: undefined,
      runningSince: undefined,
      scheduledAt: undefined,
      bootRequestedAt: undefined,
      bootRequestedSeq: undefined,
      bootedAt: undefined,
      lastVmEventSeq: 0,
      ended: undefined,
      correlationId,
      scheduledEventId: undefined,
    };
    state.vms.set(vmId, vm);
    const onHost = state.vmsByHost.get(hostId) ?? new Set<string>();
    onHost.add(vmId);
    state.vmsByHost.set(hostId, onHost);
  }
  return vm;
}

function vmEvent(state: DesiredState, e: Stored<Extract<DomainEvent, { data: { vmId: string; hostId: string; jobId: string } }>>): DesiredVm {
  const vm = vmOf(state, e.data.vmId, e.data.jobId, e.data.hostId, e.correlationId);
  vm.lastVmEventSeq = Math.max(vm.lastVmEventSeq, e.seq);
  return vm;
}

/** `j` runs on `vm` (JobStarted, or a local job's placement). It claims that VM from now on. */
function startOn(state: DesiredState, j: DesiredJob, vm: DesiredVm, since: number | undefined): void {
  if (vm.runningJobId === j.jobId) return;
  vm.runningJobId = j.jobId;
  vm.runningSince = since;
  if (!j.ranOnVmIds.includes(vm.vmId)) j.ranOnVmIds.push(vm.vmId);
  if (j.status === "active") claim(state, j, vm, since);
}

/** Moves `j`'s claim to `vm`: the VM it claimed before, and the job that claimed `vm` before, let go. */
function claim(state: DesiredState, j: DesiredJob, vm: DesiredVm, claimedAt: number | undefined): void {
  if (j.claimVmId === vm.vmId && vm.claimJobId === j.jobId) return;
  unclaim(state, j);
  if (vm.claimJobId !== undefined && vm.claimJobId !== j.jobId) {
    const displaced = state.jobs.get(vm.claimJobId);
    if (displaced?.claimVmId === vm.vmId) displaced.claimVmId = undefined;
  }
  vm.claimJobId = j.jobId;
  vm.claimedAt = claimedAt;
  j.claimVmId = vm.vmId;
}

function unclaim(state: DesiredState, j: DesiredJob): void {
  const before = j.claimVmId === undefined ? undefined : state.vms.get(j.claimVmId);
  if (before?.claimJobId === j.jobId) before.claimJobId = undefined;
  j.claimVmId = undefined;
}

function end(vm: DesiredVm, cause: EndCause, e: Stored<DomainEvent>, detail: string): void {
  vm.ended ??= { cause, at: at(e), detail, eventId: e.id };
}

function endCauseOf(status: JobStatus): EndCause {
  return status === "cancelled" ? "job-cancelled" : status === "failed" || status === "ignored" ? "job-failed" : "job-completed";
}

function endJob(state: DesiredState, e: Stored<DomainEvent> & { data: { jobId: string } }, status: JobStatus, cause: EndCause, detail: string): void {
  const j = job(state, e.data.jobId, e.seq);
  if (!ENDED.includes(j.status)) j.status = status;
  unclaim(state, j);
  // Only the VMs it runs on: a VM it merely claimed (booted for it, or rebound to it) may run
  // another job, or take one; the scheduler rebinds or idles it.
  for (const vmId of j.ranOnVmIds) {
    const vm = state.vms.get(vmId);
    if (vm?.runningJobId === j.jobId) end(vm, cause, e, detail);
  }
}

function endHostVms(state: DesiredState, e: Stored<DomainEvent> & { data: { hostId: string } }, cause: EndCause, detail: string): void {
  for (const vmId of state.vmsByHost.get(e.data.hostId) ?? []) {
    const vm = state.vms.get(vmId);
    if (vm) end(vm, cause, e, detail);
  }
}

/** The VM is wanted: placed, not ended by any event. (Timeouts need `now`: see find-leaks.) */
export const isWanted = (vm: DesiredVm): boolean => vm.ended === undefined;

/**
 * Forgets VMs and jobs that ended before `before` (ms) and reclaims answered before it, so a
 * janitor that runs for months does not keep every VM ever placed. A forgotten VM's leftovers
 * are still found: they become "unknown to the log" and are reclaimed after the boot grace.
 */
export function forgetBefore(state: DesiredState, before: number): number {
  let n = 0;
  for (const [vmId, vm] of state.vms) {
    if (!vm.ended || vm.ended.at >= before) continue;
    state.vms.delete(vmId);
    state.vmsByHost.get(vm.hostId)?.delete(vmId);
    n++;
  }
  for (const [jobId, j] of state.jobs) {
    if (j.status !== "active" && [...j.vmIds, ...j.ranOnVmIds].every((v) => !state.vms.has(v))) state.jobs.delete(jobId);
  }
  for (const [id, r] of state.reclaims) {
    if (!r.answer || r.answer.at >= before) continue;
    state.reclaims.delete(id);
    for (const res of r.resources) {
      const k = `${r.hostId}|${res.kind}:${res.name}`;
      const left = (state.reclaimsByResource.get(k) ?? []).filter((x) => x !== id);
      if (left.length) state.reclaimsByResource.set(k, left);
      else state.reclaimsByResource.delete(k);
    }
  }
  return n;
}
