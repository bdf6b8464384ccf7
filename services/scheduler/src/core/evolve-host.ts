import type { EventOf, Stored } from "@oneshot/proto";
import { normaliseHostLabels } from "./host-labels.js";
import { plus, resourcesOf, zero } from "./resources.js";
import { release } from "./reservations.js";
import { setPhase } from "./job-phase.js";
import type { Allocation, SchedulerState } from "./state.js";
import { refresh } from "./vm-index.js";

type HostEvent = Stored<
  EventOf<
    | "HostRegistered"
    | "HostCordoned"
    | "HostUncordoned"
    | "HostDrained"
    | "HostLost"
    | "HostDeregistered"
    | "ReclaimRequested"
    | "ResourceReclaimed"
    | "HostFenced"
    | "HostLeaseExpired"
  >
>;

export function applyHostEvent(s: SchedulerState, e: HostEvent): void {
  const host = s.hosts.get(e.data.hostId);
  switch (e.type) {
    case "HostRegistered": {
      const { hostId, arch, capacity, labels, images } = e.data;
      // hostd registers at every start: an operator's cordon or drain outlives the restart,
      // a lost host is back, a deregistered one starts afresh.
      const keep = host && !host.deregistered;
      s.hosts.set(hostId, {
        hostId,
        arch,
        capacity: resourcesOf(capacity),
        labels: normaliseHostLabels(labels),
        images: [...images],
        used: host ? host.used : usedBy(s, hostId),
        cordoned: keep ? host.cordoned : false,
        draining: keep ? host.draining : false,
        lost: false,
        fencePending: false,
        deregistered: false,
      });
      // Registered again without a fence: a restarted hostd, which destroyed (and reported) every
      // VM it could not follow before registering. What it kept (placements still waiting for
      // room) runs there, so those reservations and claims stand.
      if (host?.fencePending) for (const a of s.allocations.values()) if (a.hostId === hostId && a.fencing) unfence(s, a);
      return;
    }
    case "HostCordoned":
      if (host) host.cordoned = true;
      return;
    case "HostUncordoned":
      // Uncordon also ends a drain that has not finished: the operator wants the host back.
      if (host) host.cordoned = host.draining = false;
      return;
    case "HostDrained":
      if (host) host.draining = true;
      return;
    case "HostLost": {
      // No new work, and nothing of its VMs moves yet: they may still run (docs/fencing.md).
      // Its jobs are requeued once it fenced, its lease ran out, or each VM is reported gone.
      if (!host) return;
      host.lost = true;
      host.fencePending = true;
      host.lostReason = e.data.reason;
      for (const a of s.allocations.values()) {
        if (a.hostId !== e.data.hostId) continue;
        a.fencing = true;
        refresh(s, a);
      }
      return;
    }
    case "HostFenced":
    case "HostLeaseExpired": {
      // A fence of its own (lease-expired) while nobody declared it lost: the VMs' own events
      // said what became of each; placements it has not read yet are still its to run.
      if (!host?.fencePending) return;
      host.fencePending = false;
      const how = e.type === "HostFenced" ? "it stopped its VMs" : "its lease ran out";
      releaseHost(s, e.data.hostId, e.id, `host lost (${host.lostReason ?? "no heartbeat"}); ${how}`);
      return;
    }
    case "HostDeregistered":
      if (host) {
        host.deregistered = true;
        host.fencePending = false;
      }
      releaseHost(s, e.data.hostId, e.id, `host deregistered: ${e.data.reason}`);
      return;
    case "ReclaimRequested":
    case "ResourceReclaimed":
      // Leaks are VMs the log does not hold as live: no reservation of ours changes.
      return;
    default: {
      const _never: never = e;
      return _never;
    }
  }
}

/**
 * Drops every reservation on the host: it fenced, its lease ran out, or it was deregistered.
 * Jobs that only claimed a VM there, and local jobs (bound to theirs), are owed a requeue; a provider job a runner there started is not: the
 * provider fails it when the runner stops answering, and a requeue would boot a VM no job takes.
 */
function releaseHost(s: SchedulerState, hostId: string, causationId: string, reason: string): void {
  for (const a of [...s.allocations.values()]) {
    if (a.hostId !== hostId) continue;
    release(s, hostId, a.vmId);
    const job = a.claim !== undefined ? s.jobs.get(a.claim) : undefined;
    if (job && job.phase === "placed" && job.hostId === hostId && job.vmId === a.vmId) {
      setPhase(s, job, "released");
      job.outcome = { kind: "host-lost", hostId, vmId: a.vmId, reason };
      job.causationId = causationId;
    }
  }
}

function unfence(s: SchedulerState, a: Allocation): void {
  delete a.fencing;
  refresh(s, a);
}

function usedBy(s: SchedulerState, hostId: string) {
  let used = zero();
  for (const a of s.allocations.values()) if (a.hostId === hostId) used = plus(used, a.res);
  return used;
}
