// Reads a whole event log and reports every broken scheduling invariant: the proof the
// integration tests and benches check, independent of the scheduler's own code.
import type { DomainEvent, Resources, Stored } from "@oneshot/proto";

export interface Audit {
  violations: string[];
  /** JobScheduled per job id. */
  placements: Map<string, number>;
  completions: Map<string, number>;
  requeues: Map<string, number>;
  unschedulable: Map<string, number>;
  /** Highest use of each host's vCPUs seen at any point of the history. */
  peakVcpus: Map<string, number>;
}

export function auditLog(log: Iterable<Stored<DomainEvent>>): Audit {
  const a: Audit = { violations: [], placements: new Map(), completions: new Map(), requeues: new Map(), unschedulable: new Map(), peakVcpus: new Map() };
  const hosts = new Map<string, { arch: string; cap: Resources; used: Resources; open: boolean }>();
  const live = new Map<string, { hostId: string; res: Resources; jobId: string }>();
  const jobArch = new Map<string, string>();
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  const free = (key: string) => {
    const v = live.get(key);
    if (!v) return;
    live.delete(key);
    const h = hosts.get(v.hostId)!;
    h.used = { vcpus: h.used.vcpus - v.res.vcpus, memMiB: h.used.memMiB - v.res.memMiB, diskGiB: h.used.diskGiB - v.res.diskGiB };
  };
  for (const e of log) {
    switch (e.type) {
      case "HostRegistered": {
        const prev = hosts.get(e.data.hostId);
        hosts.set(e.data.hostId, { arch: e.data.arch, cap: e.data.capacity, used: prev?.used ?? { vcpus: 0, memMiB: 0, diskGiB: 0 }, open: true });
        break;
      }
      case "HostCordoned":
      case "HostDrained":
      case "HostLost":
      case "HostDeregistered":
        hosts.get(e.data.hostId)!.open = false;
        if (e.type === "HostLost" || e.type === "HostDeregistered") for (const [k, v] of live) if (v.hostId === e.data.hostId) free(k);
        break;
      case "HostUncordoned":
        hosts.get(e.data.hostId)!.open = true;
        break;
      case "JobQueued":
        jobArch.set(e.data.jobId, e.data.spec.arch);
        break;
      case "JobScheduled": {
        const { jobId, hostId, vmId, spec } = e.data;
        bump(a.placements, jobId);
        const h = hosts.get(hostId);
        if (!h) {
          a.violations.push(`seq ${e.seq}: ${jobId} placed on unknown host ${hostId}`);
          break;
        }
        if (!h.open) a.violations.push(`seq ${e.seq}: ${jobId} placed on closed host ${hostId}`);
        if (h.arch !== spec.arch || jobArch.get(jobId) !== spec.arch)
          a.violations.push(`seq ${e.seq}: ${jobId} (${jobArch.get(jobId)}) placed on ${h.arch} host ${hostId}`);
        h.used = { vcpus: h.used.vcpus + spec.vcpus, memMiB: h.used.memMiB + spec.memMiB, diskGiB: h.used.diskGiB + spec.diskGiB };
        a.peakVcpus.set(hostId, Math.max(a.peakVcpus.get(hostId) ?? 0, h.used.vcpus));
        for (const k of ["vcpus", "memMiB", "diskGiB"] as const) {
          if (h.used[k] > h.cap[k]) a.violations.push(`seq ${e.seq}: ${hostId} over capacity on ${k}: ${h.used[k]} > ${h.cap[k]}`);
        }
        live.set(`${hostId}/${vmId}`, { hostId, res: spec, jobId });
        break;
      }
      case "VmDestroyed":
      case "VmVanished":
        free(`${e.data.hostId}/${e.data.vmId}`);
        break;
      case "JobCompleted":
        bump(a.completions, e.data.jobId);
        break;
      case "JobRequeued":
        // Only a v1 requeue (the janitor's, for a VM that vanished) ends the VM it names.
        if (e.data.releasesVm) free(`${e.data.fromHostId}/${e.data.vmId}`);
        bump(a.requeues, e.data.jobId);
        break;
      case "JobUnschedulable":
        bump(a.unschedulable, e.data.jobId);
        break;
      default:
        break;
    }
  }
  return a;
}
