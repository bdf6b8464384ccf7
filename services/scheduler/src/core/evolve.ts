import type { DomainEvent, Stored } from "@oneshot/proto";
import { applyHostEvent } from "./evolve-host.js";
import { applyJobEvent } from "./evolve-job.js";
import { forgetOldJobs } from "./job-memory.js";
import { applyVmEvent } from "./evolve-vm.js";
import type { SchedulerState } from "./state.js";
import { applyPreemption, applyWarmEvent } from "./warm-vms.js";

/**
 * Folds one stored event into the scheduler's state. Deterministic: the same log gives the
 * same state, whoever replays it (both schedulers, a restarted one, `oneshot state --at`).
 *
 * Ownership: the state passed in is updated in place and returned (a fleet's state is large
 * and replays run at tens of thousands of events per second, so copying it per event is not
 * an option). Callers keep using the returned value, never an older reference they copied.
 * An event at or below `lastSeq` was already applied and changes nothing.
 */
export function evolve(state: SchedulerState, e: Stored<DomainEvent>): SchedulerState {
  if (e.seq <= state.lastSeq) return state;
  state.lastSeq = e.seq;
  switch (e.type) {
    case "JobQueued":
    case "JobIgnored":
    case "JobScheduled":
    case "JobUnschedulable":
    case "JobStarted":
    case "JobCompleted":
    case "JobCancelled":
    case "JobRequeued":
    case "JobFailed":
    case "JobRebound":
      applyJobEvent(state, e);
      if (e.type === "JobScheduled") {
        applyWarmEvent(state, e);
        applyPreemption(state, e);
      }
      break;
    case "HostRegistered":
    case "HostCordoned":
    case "HostUncordoned":
    case "HostDrained":
    case "HostLost":
    case "HostDeregistered":
    case "ReclaimRequested":
    case "ResourceReclaimed":
    case "HostFenced":
    case "HostLeaseExpired":
      applyHostEvent(state, e);
      if (e.type === "HostLost" || e.type === "HostDeregistered" || e.type === "HostRegistered") applyWarmEvent(state, e);
      break;
    case "VmBootRequested":
    case "VmBooted":
    case "VmBootFailed":
    case "VmExited":
    case "VmDestroyed":
    case "VmIdle":
    case "VmRetired":
    case "VmVanished":
    case "PlacementExpired":
      applyVmEvent(state, e);
      break;
    case "VmWarmed":
    case "WarmVmRetired":
      applyWarmEvent(state, e);
      break;
    case "VmIsolationLost":
      // Why a VM is being killed; its VmExited and VmDestroyed carry the consequences.
      break;
    case "VmEgressDenied": // the audit trail of a VM's egress policy: no capacity changes
      break;
    case "DeliveryRedelivered":
      // The reconciler's audit trail: what it recovers arrives as job events.
      break;
    default: {
      // Exhaustive at compile time; at run time an unknown type changes nothing. (Returning
      // the event here once made a stray message the scheduler's state, on every replay.)
      const _never: never = e;
      void _never;
      return state;
    }
  }
  trackSubjectSeq(state, e);
  forgetOldJobs(state, e);
  return state;
}

/** Remembers the last sequence of `evt.host.<id>` and `evt.job.<id>`: what decisions must expect. */
function trackSubjectSeq(state: SchedulerState, e: Stored<DomainEvent>): void {
  const p = e.subject.split(".");
  if (p.length !== 3 || p[0] !== "evt") return;
  if (p[1] === "host") state.hostSubjectSeq.set(p[2]!, e.seq);
  else if (p[1] === "job") {
    const job = state.jobs.get(p[2]!);
    if (job) job.subjectSeq = e.seq;
  }
}

/** Replays a whole history into a fresh state. */
export const fold = (state: SchedulerState, events: Iterable<Stored<DomainEvent>>): SchedulerState => {
  let s = state;
  for (const e of events) s = evolve(s, e);
  return s;
};
