import type { DomainEvent, Resources, Stored } from "@oneshot/proto";

/**
 * What the chaos suite holds the whole history to, read from the event log alone (never from a
 * service's state), and pure: the log in, the violations out.
 *  - every accepted job (JobQueued) ended exactly once: one JobCompleted, JobFailed,
 *    JobCancelled or JobUnschedulable, never none and never two;
 *  - no host was ever overbooked: after every JobScheduled, the host's live reservations fit
 *    its registered capacity (a reservation lives from its JobScheduled until VmDestroyed,
 *    VmVanished, a JobRequeued that releases it, a PlacementExpired before its claim, the
 *    fence of a lost host, or the host's HostDeregistered);
 *  - no reservation leaked: none is live at the end;
 *  - every VM a host claimed (VmBootRequested) was destroyed (VmDestroyed, or VmVanished).
 * The release rules are the scheduler's (core/invariants.unit.test.ts reads them the same way).
 */
export type ViolationKind =
  "job-never-ended" | "job-ended-twice" | "overbooked" | "unknown-host" | "placed-after-end" | "reservation-leaked" | "vm-not-destroyed";

export interface Violation {
  kind: ViolationKind;
  /** The event where it was seen (0: at the end of the log). */
  seq: number;
  jobId?: string;
  hostId?: string;
  vmId?: string;
  detail: string;
}

export interface LogVerdict {
  violations: Violation[];
  jobs: number;
  ended: number;
  placements: number;
  vmsClaimed: number;
  /** Highest vCPUs reserved on one host at once, against its capacity (min headroom ever). */
  peakVcpuRatio: number;
}

const TERMINAL = new Set(["JobCompleted", "JobFailed", "JobCancelled", "JobUnschedulable"]);

interface Reservation {
  hostId: string;
  vmId: string;
  jobId: string;
  res: Resources;
  attempt: number;
  claimed: boolean;
}
interface HostView {
  cap: Resources;
  used: Resources;
  lostUnfenced: boolean;
}

const add = (a: Resources, b: Resources, k: 1 | -1): Resources => ({
  vcpus: a.vcpus + k * b.vcpus,
  memMiB: a.memMiB + k * b.memMiB,
  diskGiB: a.diskGiB + k * b.diskGiB,
});
const fits = (u: Resources, c: Resources) => u.vcpus <= c.vcpus && u.memMiB <= c.memMiB && u.diskGiB <= c.diskGiB;

export function checkLog(log: readonly Stored<DomainEvent>[]): LogVerdict {
  const v: Violation[] = [];
  const hosts = new Map<string, HostView>();
  const live = new Map<string, Reservation>();
  const jobs = new Map<string, { ends: number; firstEnd?: number }>();
  const claimed = new Map<string, { hostId: string; vmId: string; jobId: string; seq: number }>();
  let placements = 0;
  let peak = 0;
  const key = (h: string, vm: string) => `${h}/${vm}`;
  const free = (k: string) => {
    const r = live.get(k);
    if (!r) return;
    live.delete(k);
    const h = hosts.get(r.hostId);
    if (h) h.used = add(h.used, r.res, -1);
  };
  for (const e of log) {
    switch (e.type) {
      case "HostRegistered": {
        const prev = hosts.get(e.data.hostId);
        hosts.set(e.data.hostId, { cap: e.data.capacity, used: prev?.used ?? { vcpus: 0, memMiB: 0, diskGiB: 0 }, lostUnfenced: false });
        break;
      }
      case "HostLost": {
        const h = hosts.get(e.data.hostId);
        if (h) h.lostUnfenced = true;
        break;
      }
      case "HostDeregistered": {
        // The scheduler drops every reservation of a deregistered host (evolve-host.ts releaseHost).
        const h = hosts.get(e.data.hostId);
        if (h) h.lostUnfenced = false;
        for (const [k, r] of live) if (r.hostId === e.data.hostId) free(k);
        break;
      }
      case "HostFenced":
      case "HostLeaseExpired": {
        const h = hosts.get(e.data.hostId);
        if (!h?.lostUnfenced) break;
        h.lostUnfenced = false;
        for (const [k, r] of live) if (r.hostId === e.data.hostId) free(k);
        break;
      }
      case "JobQueued":
        if (!jobs.has(e.data.jobId)) jobs.set(e.data.jobId, { ends: 0 });
        break;
      case "JobScheduled": {
        const { jobId, hostId, vmId, spec, attempt } = e.data;
        placements++;
        const h = hosts.get(hostId);
        if (!h) {
          v.push({ kind: "unknown-host", seq: e.seq, jobId, hostId, vmId, detail: `placed on ${hostId}, which never registered` });
          break;
        }
        const j = jobs.get(jobId);
        if (j && j.ends > 0) v.push({ kind: "placed-after-end", seq: e.seq, jobId, hostId, vmId, detail: `placed after it ended at seq ${j.firstEnd}` });
        const k = key(hostId, vmId);
        if (live.has(k)) break; // the same placement seen twice reserves once (the scheduler's rule)
        h.used = add(h.used, spec, 1);
        live.set(k, { hostId, vmId, jobId, res: spec, attempt, claimed: false });
        peak = Math.max(peak, h.used.vcpus / Math.max(1, h.cap.vcpus));
        if (!fits(h.used, h.cap)) {
          v.push({ kind: "overbooked", seq: e.seq, jobId, hostId, vmId, detail: `reserved ${JSON.stringify(h.used)} > capacity ${JSON.stringify(h.cap)}` });
        }
        break;
      }
      case "VmBootRequested": {
        const k = key(e.data.hostId, e.data.vmId);
        const r = live.get(k);
        if (r) r.claimed = true;
        if (!claimed.has(k)) claimed.set(k, { hostId: e.data.hostId, vmId: e.data.vmId, jobId: e.data.jobId, seq: e.seq });
        break;
      }
      case "PlacementExpired": {
        const k = key(e.data.hostId, e.data.vmId);
        const r = live.get(k);
        if (r && !r.claimed && r.attempt === e.data.attempt) free(k);
        break;
      }
      case "VmDestroyed":
      case "VmVanished": {
        const k = key(e.data.hostId, e.data.vmId);
        free(k);
        claimed.delete(k);
        break;
      }
      case "JobRequeued":
        if (e.data.releasesVm) free(key(e.data.fromHostId, e.data.vmId));
        break;
      default:
        if (TERMINAL.has(e.type)) {
          const jobId = (e.data as { jobId: string }).jobId;
          const j = jobs.get(jobId) ?? { ends: 0 };
          jobs.set(jobId, j);
          j.ends++;
          j.firstEnd ??= e.seq;
          if (j.ends === 2) v.push({ kind: "job-ended-twice", seq: e.seq, jobId, detail: `${e.type} after an end at seq ${j.firstEnd}` });
        }
    }
  }
  for (const [jobId, j] of jobs) if (j.ends === 0) v.push({ kind: "job-never-ended", seq: 0, jobId, detail: "no terminal event" });
  for (const r of live.values())
    v.push({ kind: "reservation-leaked", seq: 0, jobId: r.jobId, hostId: r.hostId, vmId: r.vmId, detail: `${JSON.stringify(r.res)} still reserved` });
  for (const c of claimed.values())
    v.push({
      kind: "vm-not-destroyed",
      seq: c.seq,
      jobId: c.jobId,
      hostId: c.hostId,
      vmId: c.vmId,
      detail: "VmBootRequested without VmDestroyed or VmVanished",
    });
  return {
    violations: v,
    jobs: jobs.size,
    ended: [...jobs.values()].filter((j) => j.ends > 0).length,
    placements,
    vmsClaimed: [...log].filter((e) => e.type === "VmBootRequested").length,
    peakVcpuRatio: peak,
  };
}
