import type { EventOf, Stored } from "@oneshot/proto";
import { eventTimeMs } from "./job-memory.js";
import { setPhase } from "./job-phase.js";
import { allocationKey, type SchedulerState } from "./state.js";
import { allocationFor, refresh, unclaim } from "./vm-index.js";

/**
 * A runner took job D (docs/runner-model.md, rule 1). Who runs where is the provider's fact,
 * not our plan: the VM V it names now runs D whatever V was booted for; D is started and never
 * placed again; the VM D claimed (if another, idle) is free; the unstarted job that claimed V
 * is displaced and owed a new VM — preferably D's, which was booted for a job like it.
 */
export function applyJobStarted(s: SchedulerState, e: Stored<EventOf<"JobStarted">>): void {
  const { jobId, vmId, hostId } = e.data;
  const a = allocationFor(s, vmId, hostId);
  const job = s.jobs.get(jobId);
  // A local job is bound to its VM from JobScheduled on: a start changes nothing.
  if (job?.local) return;
  if (!job && !s.finished.has(jobId)) s.startedEarly.set(jobId, eventTimeMs(e));
  let inheritKey: string | undefined;
  if (job && job.phase !== "started") {
    const own = job.hostId !== undefined && job.vmId !== undefined ? allocationKey(job.hostId, job.vmId) : undefined;
    const ownVm = own !== undefined ? s.allocations.get(own) : undefined;
    if (ownVm && ownVm !== a && ownVm.claim === jobId && !ownVm.runningJobId) {
      unclaim(s, job.hostId, job.vmId, jobId, `${jobId} ran on another runner (${e.data.runnerName ?? vmId ?? "unknown"})`);
      inheritKey = own;
    }
    setPhase(s, job, "started");
    delete job.outcome;
    job.causationId = e.id;
    if (a) {
      job.hostId = a.hostId;
      job.vmId = a.vmId;
    } else {
      delete job.hostId;
      delete job.vmId;
    }
  }
  // An ephemeral runner runs one job: the first start it is named in is the one it runs.
  if (!a || (a.runningJobId !== undefined && a.runningJobId !== jobId)) return;
  const displaced = a.claim !== undefined && a.claim !== jobId ? s.jobs.get(a.claim) : undefined;
  a.runningJobId = jobId;
  a.claim = jobId;
  refresh(s, a);
  if (!displaced || displaced.phase !== "placed" || displaced.hostId !== a.hostId || displaced.vmId !== a.vmId) return;
  setPhase(s, displaced, "released");
  displaced.outcome = { kind: "displaced", byJobId: jobId, hostId: a.hostId, vmId: a.vmId, ...(inheritKey ? { inheritKey } : {}) };
  displaced.causationId = e.id;
}
