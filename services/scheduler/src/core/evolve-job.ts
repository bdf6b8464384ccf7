import type { EventOf, Stored } from "@oneshot/proto";
import { normaliseHostLabels, requiredLabels } from "./host-labels.js";
import { eventTimeMs } from "./job-memory.js";
import { finish, setPhase, track } from "./job-phase.js";
import { applyJobStarted } from "./job-started.js";
import { release, reserve } from "./reservations.js";
import { runnerScope } from "./runner-scope.js";
import { allocationKey, type SchedulerState } from "./state.js";
import { refresh, unclaim } from "./vm-index.js";

type JobEvent = Stored<
  EventOf<
    | "JobQueued"
    | "JobIgnored"
    | "JobScheduled"
    | "JobUnschedulable"
    | "JobStarted"
    | "JobCompleted"
    | "JobCancelled"
    | "JobRequeued"
    | "JobFailed"
    | "JobRebound"
  >
>;

export function applyJobEvent(s: SchedulerState, e: JobEvent): void {
  switch (e.type) {
    case "JobQueued": {
      const { jobId, source, spec } = e.data;
      // Jobs only move forward: a repeat, or a JobQueued after the job ended, changes nothing;
      // one a runner already started is never pending (it must boot nothing).
      if (s.jobs.has(jobId) || s.finished.has(jobId)) return;
      const early = s.startedEarly.delete(jobId);
      track(s, {
        jobId,
        org: source.org,
        local: source.provider === "local",
        spec,
        requiredLabels: requiredLabels(source.labels),
        labels: normaliseHostLabels(source.labels),
        scope: runnerScope(source),
        queuedSeq: e.seq,
        attempt: 0,
        bootFailures: 0,
        phase: early ? "started" : "pending",
        subjectSeq: e.seq,
        correlationId: e.correlationId,
        causationId: e.id,
        ...(e.data.script !== undefined ? { script: e.data.script } : {}),
      });
      return;
    }
    case "JobScheduled": {
      const { jobId, hostId, vmId, spec, attempt } = e.data;
      const job = s.jobs.get(jobId);
      const claims = job !== undefined && job.phase === "pending" && job.attempt === attempt;
      const bound = e.data.script !== undefined || job?.local === true;
      // The reservation counts whatever the job's state: hostd acts on it until VmDestroyed. A
      // placement its job no longer wants boots a free VM, which another job may take.
      const a = {
        hostId,
        vmId,
        jobId,
        attempt,
        res: spec,
        arch: spec.arch,
        image: spec.image,
        bound,
        idleWritten: false,
        retired: false,
        ...(job ? { runner: { labels: job.labels, scope: job.scope } } : {}),
        ...(claims ? { claim: jobId } : {}),
        ...(claims && bound ? { runningJobId: jobId } : {}),
        ...(job ? {} : { freedBecause: `${jobId} had ended before it was placed` }),
      };
      if (!reserve(s, a) || !claims) return;
      setPhase(s, job, "placed");
      job.hostId = hostId;
      job.vmId = vmId;
      job.causationId = e.id;
      s.orgServedSeq.set(job.org, e.seq);
      return;
    }
    case "JobRebound": {
      const { jobId, hostId, vmId } = e.data;
      const job = s.jobs.get(jobId);
      const a = s.allocations.get(allocationKey(hostId, vmId));
      // First rebind to a VM wins it: two schedulers may each have moved a job onto it.
      if (!job || !a || a.claim !== undefined || a.runningJobId !== undefined || a.retired) return;
      if (job.phase !== "pending" && job.phase !== "released") return;
      a.claim = jobId;
      refresh(s, a);
      setPhase(s, job, "placed");
      delete job.outcome;
      job.hostId = hostId;
      job.vmId = vmId;
      job.causationId = e.id;
      return;
    }
    case "JobRequeued": {
      // v1 (old logs, the janitor's requeues of vanished VMs) ended the VM's reservation;
      // the scheduler's v2 does not: the VM may be alive, running another job.
      if (e.data.releasesVm) release(s, e.data.fromHostId, e.data.vmId);
      const job = s.jobs.get(e.data.jobId);
      if (!job || job.phase === "started" || e.data.attempt <= job.attempt) return;
      unclaim(s, job.hostId, job.vmId, job.jobId, `${job.jobId} was requeued`);
      setPhase(s, job, "pending");
      job.attempt = e.data.attempt;
      delete job.hostId;
      delete job.vmId;
      delete job.outcome;
      job.causationId = e.id;
      return;
    }
    case "JobIgnored":
    case "JobUnschedulable":
    case "JobCompleted":
    case "JobCancelled":
    case "JobFailed": {
      // The job ends; a VM it only claimed is free again (the scheduler rebinds or idles it),
      // a VM it ran on keeps its reservation until VmDestroyed.
      const job = s.jobs.get(e.data.jobId);
      if (job) unclaim(s, job.hostId, job.vmId, job.jobId, `${job.jobId} ended (${e.type})`);
      s.startedEarly.delete(e.data.jobId);
      finish(s, e.data.jobId, eventTimeMs(e));
      return;
    }
    case "JobStarted":
      applyJobStarted(s, e);
      return;
    default: {
      const _never: never = e;
      return _never;
    }
  }
}
