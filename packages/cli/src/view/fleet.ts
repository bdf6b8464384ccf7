import type { DomainEvent, Resources, Stored } from "@oneshot/proto";

export type JobState = "queued" | "ignored" | "unschedulable" | "scheduled" | "booting" | "running" | "exited" | "completed" | "cancelled" | "failed";
const rank: Record<JobState, number> = {
  ignored: 0,
  queued: 1,
  unschedulable: 2,
  scheduled: 3,
  booting: 4,
  running: 5,
  exited: 6,
  completed: 7,
  cancelled: 7,
  failed: 7,
};

export interface JobRow {
  jobId: string;
  provider: string;
  repo: string;
  state: JobState;
  arch?: string;
  hostId?: string;
  vmId?: string;
  exitCode?: number | null;
  reason?: string;
  queuedAt?: string;
  updatedAt: string;
}

export interface HostRow {
  hostId: string;
  arch: string;
  vmm: string;
  accel: string;
  emulated: boolean;
  status: "ready" | "cordoned" | "draining" | "lost" | "deregistered";
  capacity: Resources;
  used: Resources;
  vms: number;
}

export interface Fleet {
  jobs: Map<string, JobRow>;
  /**
   * Jobs whose row ended (completed, cancelled, failed, ignored), in the order they ended, with
   * the ending event's time (ms): rows older than FLEET_FINISHED_MEMORY_MS are forgotten, so the
   * model (and the janitor's fleet snapshot) holds a week of history, not every job ever.
   */
  finished: Map<string, number>;
  hosts: Map<string, HostRow>;
  /** Live allocations by vmId: freed at VmDestroyed, or once a lost host fenced (HostFenced, HostLeaseExpired). */
  allocations: Map<string, { hostId: string; jobId: string; res: Resources }>;
}

export const emptyFleet = (): Fleet => ({ jobs: new Map(), finished: new Map(), hosts: new Map(), allocations: new Map() });

/**
 * How long `oneshot jobs --all` (and the dashboard's recent jobs) keep a job that ended: a week,
 * measured in the log's own time (event occurredAt), so every reader forgets the same rows. Older
 * jobs are still in the log: `oneshot events --job <id>` reads them.
 */
export const FLEET_FINISHED_MEMORY_MS = 7 * 24 * 3600_000;
/** Forgetting runs every this many stream sequences: deterministic (the log decides), cheap. */
const FORGET_EVERY = 1024;

const ended = (s: JobState) => rank[s] === rank.completed || s === "ignored";

/**
 * Forgets rows that ended more than FLEET_FINISHED_MEMORY_MS before `e`'s time (oldest first; a row
 * that moved on since, an ignored job queued later, is only taken off the list). A late event for a
 * forgotten job makes a new row with what that event says, as for any job first seen mid-life.
 */
function forgetEnded(f: Fleet, e: Stored<DomainEvent>): void {
  if (e.seq % FORGET_EVERY !== 0) return;
  const before = Date.parse(e.occurredAt) - FLEET_FINISHED_MEMORY_MS;
  if (!Number.isFinite(before)) return;
  for (const [jobId, at] of f.finished) {
    if (at >= before) break;
    f.finished.delete(jobId);
    const row = f.jobs.get(jobId);
    if (row && ended(row.state)) f.jobs.delete(jobId);
  }
}

const zero = (): Resources => ({ vcpus: 0, memMiB: 0, diskGiB: 0 });
const add = (a: Resources, b: Resources, sign = 1): Resources => ({
  vcpus: a.vcpus + sign * b.vcpus,
  memMiB: a.memMiB + sign * b.memMiB,
  diskGiB: a.diskGiB + sign * b.diskGiB,
});

/** A read-model for `oneshot jobs` / `oneshot hosts`; job states only move forward. */
export function applyToFleet(f: Fleet, e: Stored<DomainEvent>): Fleet {
  const at = e.occurredAt;
  const job = (jobId: string): JobRow => {
    let row = f.jobs.get(jobId);
    if (!row) f.jobs.set(jobId, (row = { jobId, provider: "?", repo: "?", state: "queued", updatedAt: at }));
    return row;
  };
  const move = (jobId: string, state: JobState, extra: Partial<JobRow> = {}) => {
    const row = job(jobId);
    Object.assign(row, extra, { updatedAt: at });
    if (rank[state] >= rank[row.state]) row.state = state;
    if (ended(row.state)) {
      // Re-inserted: the list stays in the order rows ended.
      f.finished.delete(jobId);
      f.finished.set(jobId, Date.parse(at));
    }
  };
  const release = (vmId: string) => {
    const a = f.allocations.get(vmId);
    if (!a) return;
    f.allocations.delete(vmId);
    const h = f.hosts.get(a.hostId);
    if (h) {
      h.used = add(h.used, a.res, -1);
      h.vms--;
    }
  };
  switch (e.type) {
    case "JobQueued": {
      const row = job(e.data.jobId);
      Object.assign(row, { provider: e.data.source.provider, repo: e.data.source.repo, arch: e.data.spec.arch, queuedAt: at });
      move(e.data.jobId, "queued");
      break;
    }
    case "JobIgnored":
      Object.assign(job(e.data.jobId), { provider: e.data.source.provider, repo: e.data.source.repo });
      move(e.data.jobId, "ignored", { reason: e.data.reason });
      break;
    case "JobUnschedulable":
      move(e.data.jobId, "unschedulable", { reason: e.data.reason });
      break;
    case "JobScheduled": {
      move(e.data.jobId, "scheduled", { hostId: e.data.hostId, vmId: e.data.vmId });
      const h = f.hosts.get(e.data.hostId);
      const res = { vcpus: e.data.spec.vcpus, memMiB: e.data.spec.memMiB, diskGiB: e.data.spec.diskGiB };
      f.allocations.set(e.data.vmId, { hostId: e.data.hostId, jobId: e.data.jobId, res });
      if (h) {
        h.used = add(h.used, res);
        h.vms++;
      }
      break;
    }
    case "JobStarted":
      // Where it really runs: the runner that took it, not the VM it was booted for.
      move(e.data.jobId, "running", e.data.vmId ? { vmId: e.data.vmId, ...(e.data.hostId ? { hostId: e.data.hostId } : {}) } : {});
      break;
    case "JobRebound": {
      const row = job(e.data.jobId);
      Object.assign(row, { hostId: e.data.hostId, vmId: e.data.vmId, reason: e.data.reason, updatedAt: at });
      break;
    }
    case "JobCompleted":
      move(e.data.jobId, "completed", { exitCode: e.data.exitCode, reason: e.data.conclusion });
      break;
    case "JobCancelled":
      move(e.data.jobId, "cancelled", { reason: e.data.reason });
      break;
    case "JobFailed":
      move(e.data.jobId, "failed", { reason: e.data.reason });
      break;
    case "JobRequeued": {
      const row = job(e.data.jobId);
      if (rank[row.state] < rank.running) row.state = "queued"; // the one backwards step: a new attempt
      row.reason = e.data.reason;
      row.updatedAt = at;
      if (e.data.releasesVm) release(e.data.vmId);
      break;
    }
    // VM events move the job whose VM it is now (a rebound or swapped job follows its own VM).
    case "VmBootRequested":
      if (ownsVm(f, e.data.jobId, e.data.vmId)) move(e.data.jobId, "booting");
      break;
    case "VmBooted":
      if (ownsVm(f, e.data.jobId, e.data.vmId)) move(e.data.jobId, "running");
      break;
    case "VmBootFailed":
      job(e.data.jobId).reason = `${e.data.code}: ${e.data.reason}`;
      break;
    case "VmExited":
      if (ownsVm(f, e.data.jobId, e.data.vmId)) move(e.data.jobId, "exited", { exitCode: e.data.exitCode });
      break;
    case "VmDestroyed":
    case "VmVanished":
      release(e.data.vmId);
      break;
    case "VmIdle":
    case "VmRetired":
    case "DeliveryRedelivered":
      break;
    case "VmIsolationLost":
    case "VmEgressDenied":
      break; // its VmExited/VmDestroyed release the VM; egress reports change no allocation
    case "VmWarmed":
    case "WarmVmRetired":
      break; // pool VMs hold no job (docs/warm-pool.md)
    case "HostRegistered": {
      const prev = f.hosts.get(e.data.hostId);
      f.hosts.set(e.data.hostId, {
        hostId: e.data.hostId,
        arch: e.data.arch,
        vmm: e.data.vmm,
        accel: e.data.accel,
        emulated: e.data.emulated,
        status: prev && (prev.status === "cordoned" || prev.status === "draining") ? prev.status : "ready",
        capacity: e.data.capacity,
        used: prev?.used ?? zero(),
        vms: prev?.vms ?? 0,
      });
      break;
    }
    case "HostCordoned":
      setStatus(f, e.data.hostId, "cordoned");
      break;
    case "HostUncordoned":
      setStatus(f, e.data.hostId, "ready");
      break;
    case "HostDrained":
      setStatus(f, e.data.hostId, "draining");
      break;
    case "HostDeregistered":
      setStatus(f, e.data.hostId, "deregistered");
      break;
    case "HostLost":
      setStatus(f, e.data.hostId, "lost");
      break;
    // A lost host's VMs hold their capacity until it fenced them, or its lease ran out (docs/fencing.md).
    case "HostFenced":
    case "HostLeaseExpired":
      for (const [vmId, a] of f.allocations) if (a.hostId === e.data.hostId) release(vmId);
      break;
    case "PlacementExpired":
      release(e.data.vmId);
      break;
    case "ReclaimRequested":
    case "ResourceReclaimed":
      break;
    default: {
      const never: never = e;
      void never;
    }
  }
  forgetEnded(f, e);
  return f;
}

/** Whether the job's row still points at this VM (not rebound to another, not running elsewhere). */
const ownsVm = (f: Fleet, jobId: string, vmId: string): boolean => {
  const row = f.jobs.get(jobId);
  return !row || row.vmId === undefined || row.vmId === vmId;
};

function setStatus(f: Fleet, hostId: string, status: HostRow["status"]): void {
  const h = f.hosts.get(hostId);
  if (h) h.status = status;
}

/** `[#####.....] 5/10` */
export function bar(used: number, total: number, width = 10): string {
  const n = total > 0 ? Math.min(width, Math.round((used / total) * width)) : 0;
  return `[${"#".repeat(n)}${".".repeat(width - n)}] ${used}/${total}`;
}
