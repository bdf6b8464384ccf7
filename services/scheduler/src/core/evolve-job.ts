import type { EventOf, Stored } from "@oneshot/proto";
import { requiredLabels } from "./host-labels.js";
import { plus, resourcesOf } from "./resources.js";
import { allocationKey, finish, setPhase, type SchedulerState } from "./state.js";

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
      });
      s.pending.add(jobId);
      return;
    }
    case "JobScheduled": {
      const { jobId, hostId, vmId, spec, attempt } = e.data;
      // The reservation counts whatever the job's state: hostd acts on it until VmDestroyed.
      const res = resourcesOf(spec);
      const key = allocationKey(hostId, vmId);
      if (!s.allocations.has(key)) {
        s.allocations.set(key, { hostId, vmId, jobId, attempt, res });
        const host = s.hosts.get(hostId);
        if (host) host.used = plus(host.used, res);
      }
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
