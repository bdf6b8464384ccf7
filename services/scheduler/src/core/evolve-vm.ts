import type { EventOf, Stored } from "@oneshot/proto";
import { setPhase } from "./job-phase.js";
import { release } from "./reservations.js";
import { allocationKey, type Allocation, type Outcome, type SchedulerState } from "./state.js";
import { booted, refresh } from "./vm-index.js";

type VmEvent = Stored<
  EventOf<"VmBootRequested" | "VmBooted" | "VmBootFailed" | "VmExited" | "VmDestroyed" | "VmIdle" | "VmRetired" | "VmVanished" | "PlacementExpired">
>;

export function applyVmEvent(s: SchedulerState, e: VmEvent): void {
  const { hostId, vmId } = e.data;
  const alloc = s.allocations.get(allocationKey(hostId, vmId));
  switch (e.type) {
    case "VmBootRequested":
    case "VmBooted":
      if (alloc) alloc.claimedByHost = true;
      // The idle deadline counts from the boot; the request stands in until the VM is up.
      if (alloc && (e.type === "VmBooted" || alloc.bootedAtMs === undefined)) booted(s, alloc, Date.parse(e.occurredAt));
      return;
    case "PlacementExpired": {
      // The janitor found nobody claimed it in time. Void once hostd claimed it (first in the
      // log wins; hostd reads the same order and never boots an expired placement).
      if (!alloc || alloc.claimedByHost || alloc.attempt !== e.data.attempt || !release(s, hostId, vmId)) return;
      const job = claimOf(s, alloc);
      // Counted like a failed boot: a host that never claims would otherwise get the job forever.
      if (job) job.bootFailures++;
      lose(s, alloc, e.id, { kind: "boot-failed", hostId, vmId, code: "placement-expired", reason: e.data.reason });
      return;
    }
    case "VmBootFailed": {
      if (alloc) alloc.claimedByHost = true;
      if (!alloc || alloc.bootFailed) return;
      alloc.bootFailed = { code: e.data.code, reason: e.data.reason };
      refresh(s, alloc);
      const job = claimOf(s, alloc);
      if (job) job.bootFailures++;
      return;
    }
    case "VmExited":
      if (!alloc) return;
      alloc.claimedByHost = true;
      alloc.exited = { exitCode: e.data.exitCode, reason: e.data.reason };
      refresh(s, alloc);
      return;
    case "VmIdle":
      if (!alloc) return;
      alloc.idleWritten = true;
      refresh(s, alloc);
      return;
    case "VmRetired":
      // Retired for being idle is not its claim's fault: the claim looks for another VM, uncounted.
      if (!alloc || alloc.retired) return;
      alloc.retired = true;
      refresh(s, alloc);
      if (!alloc.runningJobId) lose(s, alloc, e.id, { kind: "vm-gone-unused", hostId, vmId, reason: `VM retired: ${e.data.reason}`, counts: false });
      return;
    case "VmDestroyed":
    case "VmVanished": {
      // Capacity frees here, not at JobCompleted: until now the VM still holds it.
      if (!release(s, hostId, vmId) || !alloc) return;
      const gone = e.type === "VmDestroyed" ? "VM destroyed" : `VM vanished: ${e.data.reason}`;
      if (alloc.fencing) {
        // Its host was declared lost and this VM is now known gone: the job did not fail, its
        // host did. Requeued at once (uncounted), before the rest of the host's fence.
        lose(s, alloc, e.id, { kind: "host-lost", hostId, vmId, reason: `host lost (${s.hosts.get(hostId)?.lostReason ?? "no heartbeat"}); ${gone}` });
      } else if (alloc.bootFailed) {
        lose(s, alloc, e.id, { kind: "boot-failed", hostId, vmId, ...alloc.bootFailed });
      } else if (alloc.bound) {
        const job = claimOf(s, alloc);
        // A VM that vanished under its job counts toward maxAttempts, as a failed boot does.
        if (job && e.type === "VmVanished") job.bootFailures++;
        lose(
          s,
          alloc,
          e.id,
          e.type === "VmDestroyed"
            ? { kind: "destroyed", hostId, vmId, exitCode: alloc.exited?.exitCode ?? null, exitReason: alloc.exited?.reason ?? null }
            : { kind: "vanished", hostId, vmId, reason: gone },
        );
      } else if (!alloc.runningJobId) {
        // An ephemeral runner's clean exit means it ran a job whose start is not reported yet
        // (webhooks can be minutes late, the VM ends in seconds): the claim still needs a VM,
        // but its VM did nothing wrong. Only a VM that died unused counts against the job.
        const clean = alloc.exited?.reason === "exited";
        const counts = !alloc.retired && !clean;
        const job = claimOf(s, alloc);
        if (job && counts) job.bootFailures++;
        const why = clean ? `${gone} after its runner exited; no start reported on it yet` : `${gone} before any job ran on it`;
        lose(s, alloc, e.id, { kind: "vm-gone-unused", hostId, vmId, reason: why, counts });
      }
      // A provider job that ran: GitHub/GitLab report how it ended. Nothing more for the scheduler.
      return;
    }
    default: {
      const _never: never = e;
      return _never;
    }
  }
}

/** The job whose claim this VM holds, while that job still counts on it. */
function claimOf(s: SchedulerState, a: Allocation) {
  if (a.claim === undefined) return undefined;
  const job = s.jobs.get(a.claim);
  return job && job.phase === "placed" && job.hostId === a.hostId && job.vmId === a.vmId ? job : undefined;
}

/** The claim job lost its VM: it is owed a follow-up. */
function lose(s: SchedulerState, a: Allocation, causationId: string, outcome: Outcome): void {
  const job = claimOf(s, a);
  delete a.claim;
  refresh(s, a);
  if (!job) return;
  setPhase(s, job, "released");
  job.outcome = outcome;
  job.causationId = causationId;
}
