import type { EventOf, Stored } from "@oneshot/proto";
import { release } from "./reservations.js";
import { allocationKey, finish, setPhase, type SchedulerState } from "./state.js";

type VmEvent = Stored<EventOf<"VmBootRequested" | "VmBooted" | "VmBootFailed" | "VmExited" | "VmDestroyed">>;

export function applyVmEvent(s: SchedulerState, e: VmEvent): void {
  const { hostId, vmId } = e.data;
  const alloc = s.allocations.get(allocationKey(hostId, vmId));
  switch (e.type) {
    case "VmBootRequested": case "VmBooted":
      return;
    case "VmBootFailed": {
      if (!alloc || alloc.bootFailed) return;
      alloc.bootFailed = { code: e.data.code, reason: e.data.reason };
      const job = s.jobs.get(alloc.jobId);
      if (job && job.vmId === vmId && job.hostId === hostId) job.bootFailures++;
      return;
    }
    case "VmExited":
      if (alloc) alloc.exited = { exitCode: e.data.exitCode, reason: e.data.reason };
      return;
    case "VmDestroyed": {
      // Capacity frees here, not at JobCompleted: until now the VM still holds it.
      if (!release(s, hostId, vmId) || !alloc) return;
      const job = s.jobs.get(alloc.jobId);
      if (!job || job.phase !== "placed" || job.vmId !== vmId || job.hostId !== hostId) return;
      if (alloc.bootFailed) {
        setPhase(s, job, "released");
        job.outcome = { kind: "boot-failed", hostId, vmId, ...alloc.bootFailed };
        job.causationId = e.id;
      } else if (job.local) {
        setPhase(s, job, "released");
        job.outcome = { kind: "destroyed", hostId, vmId, exitCode: alloc.exited?.exitCode ?? null, exitReason: alloc.exited?.reason ?? null };
        job.causationId = e.id;
      } else {
        // A provider job ran; GitHub/GitLab report how it ended. Nothing more for the scheduler.
        finish(s, job.jobId);
      }
      return;
    }
    default: {
      const _never: never = e;
      return _never;
    }
  }
}
