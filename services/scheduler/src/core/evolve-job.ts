import type { EventOf, Stored } from "@oneshot/proto";
import { requiredLabels } from "./host-labels.js";
import { release, reserve } from "./reservations.js";
import { finish, setPhase, type SchedulerState } from "./state.js";

type JobEvent = Stored<EventOf<"JobQueued" | "JobIgnored" | "JobScheduled" | "JobUnschedulable" | "JobStarted" | "JobCompleted" | "JobCancelled" | "JobRequeued" | "JobFailed">>;

export function applyJobEvent(s: SchedulerState, e: JobEvent): void {
  switch (e.type) {
    case "JobQueued": {
      const { jobId, source, spec } = e.data;
      // Jobs only move forward: a repeat, or a JobQueued after the job ended, changes nothing.
      if (s.jobs.has(jobId) || s.finished.has(jobId)) return;
      s.jobs.set(jobId, {
        jobId, org: source.org, local: source.provider === "local", spec, requiredLabels: requiredLabels(source.labels),
        queuedSeq: e.seq, attempt: 0, bootFailures: 0, phase: "pending", subjectSeq: e.seq,
        correlationId: e.correlationId, causationId: e.id,
        ...(e.data.script !== undefined ? { script: e.data.script } : {}),
      });
      s.pending.add(jobId);
      return;
    }
    case "JobScheduled": {
      const { jobId, hostId, vmId, spec, attempt } = e.data;
      // The reservation counts whatever the job's state: hostd acts on it until VmDestroyed.
      reserve(s, { hostId, vmId, jobId, attempt, res: spec });
      const job = s.jobs.get(jobId);
      if (job && job.phase === "pending" && job.attempt === attempt) {
        setPhase(s, job, "placed");
        job.hostId = hostId;
        job.vmId = vmId;
        job.causationId = e.id;
        s.orgServedSeq.set(job.org, e.seq);
      }
      return;
    }
    case "JobRequeued": {
      // The requeue names the VM its job lost. When the scheduler wrote it, that VM's
      // reservation is already gone (VmDestroyed, HostLost). When the janitor did, the VM
      // vanished or lost its hostd, and no VmDestroyed may ever come: its reservation ends here
      // (hostd's own admission still keeps a machine from running more than it holds).
      release(s, e.data.fromHostId, e.data.vmId);
      const job = s.jobs.get(e.data.jobId);
      if (!job || e.data.attempt <= job.attempt) return;
      setPhase(s, job, "pending");
      job.attempt = e.data.attempt;
      delete job.hostId;
      delete job.vmId;
      delete job.outcome;
      job.causationId = e.id;
      return;
    }
    case "JobIgnored": case "JobUnschedulable": case "JobCompleted": case "JobCancelled": case "JobFailed":
      // The job ends here; a live VM keeps its reservation until VmDestroyed.
      finish(s, e.data.jobId);
      return;
    case "JobStarted":
      return;
    default: {
      const _never: never = e;
      return _never;
    }
  }
}
