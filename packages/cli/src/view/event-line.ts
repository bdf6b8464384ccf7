import type { DomainEvent, Stored } from "@oneshot/proto";
import { egressDeniedLine, egressNote } from "./egress-line.js";

/** The documented `--json` line: stable field names, one object per line. */
export interface EventJson {
  seq: number;
  subject: string;
  type: string;
  version: number;
  time: string;
  id: string;
  correlationId: string;
  causationId: string | null;
  data: unknown;
}

export const toJson = (e: Stored<DomainEvent>): EventJson => ({
  seq: e.seq,
  subject: e.subject,
  type: e.type,
  version: e.version,
  time: e.occurredAt,
  id: e.id,
  correlationId: e.correlationId,
  causationId: e.causationId,
  data: e.data,
});

/** One human line: sequence, time, type, and the few fields that matter for that type. */
export function humanLine(e: Stored<DomainEvent>): string {
  const t = e.occurredAt.replace("T", " ").replace(/\.\d+Z$/, "Z");
  return `${String(e.seq).padStart(6)}  ${t}  ${e.type.padEnd(17)} ${summary(e)}`;
}

/** The few fields that matter for the event's type (the tail of `humanLine`). */
export function summary(e: DomainEvent): string {
  switch (e.type) {
    case "JobQueued": {
      const s = e.data.spec;
      return `${e.data.jobId} ${e.data.source.provider}:${e.data.source.repo} ${s.arch} ${s.vcpus}cpu ${s.memMiB}MiB${egressNote(s.egress)}`;
    }
    case "JobIgnored":
      return `${e.data.jobId} ${e.data.reason}`;
    case "JobScheduled":
      return `${e.data.jobId} → ${e.data.hostId} vm ${e.data.vmId} (attempt ${e.data.attempt}, ${e.data.start ?? "cold"})${egressNote(e.data.spec.egress)}`;
    case "JobUnschedulable":
      return `${e.data.jobId} ${e.data.reason}`;
    case "JobStarted":
      return `${e.data.jobId}${e.data.runnerName ? ` runner ${e.data.runnerName}` : ""} (${e.data.reportedBy}${e.data.reason ? `: ${e.data.reason}` : ""})`;
    case "JobRebound":
      return `${e.data.jobId} → ${e.data.hostId} vm ${e.data.vmId}: ${e.data.reason}`;
    case "JobCompleted":
      return `${e.data.jobId} ${e.data.conclusion}${e.data.exitCode === null ? "" : ` exit ${e.data.exitCode}`} (${e.data.reportedBy})`;
    case "JobCancelled":
    case "JobFailed":
      return `${e.data.jobId} ${e.data.reason}`;
    case "JobRequeued":
      return `${e.data.jobId} from ${e.data.fromHostId}: ${e.data.reason}`;
    case "HostRegistered": {
      const c = e.data.capacity;
      return `${e.data.hostId} ${e.data.arch} ${c.vcpus}cpu ${c.memMiB}MiB ${e.data.vmm}/${e.data.accel}${e.data.emulated ? " (emulated)" : ""}`;
    }
    case "HostCordoned":
    case "HostUncordoned":
    case "HostDrained":
    case "HostLost":
    case "HostDeregistered":
      return `${e.data.hostId} ${e.data.reason}`;
    case "VmBootRequested":
      return `${e.data.vmId} on ${e.data.hostId} for ${e.data.jobId}`;
    case "VmBooted":
      return e.data.start === "warm"
        ? `${e.data.vmId} ${e.data.vmm}/${e.data.accel} warm: handed over in ${Math.round(e.data.handOverMs ?? 0)}ms`
        : `${e.data.vmId} ${e.data.vmm}/${e.data.accel} agent ready in ${Math.round(e.data.timings.totalMs)}ms`;
    case "VmWarmed": {
      const s = e.data.shape;
      return `${e.data.vmId} on ${e.data.hostId} warm ${s.arch} ${s.vcpus}cpu ${s.memMiB}MiB ${s.image} (booted in ${Math.round(e.data.timings.totalMs)}ms)`;
    }
    case "WarmVmRetired":
      return `${e.data.vmId} on ${e.data.hostId} ${e.data.reason}: ${e.data.detail}`;
    case "VmBootFailed":
      return `${e.data.vmId} ${e.data.code}: ${e.data.reason}`;
    case "VmExited":
      return `${e.data.vmId} ${e.data.reason} exit ${e.data.exitCode ?? "?"} after ${Math.round(e.data.runMs)}ms`;
    case "VmDestroyed":
      return `${e.data.vmId} removed ${e.data.removed.length} resource(s)`;
    case "VmIsolationLost":
      return `${e.data.vmId} ${e.data.action}: ${e.data.reason}`;
    case "VmEgressDenied":
      return egressDeniedLine(e.data);
    case "ReclaimRequested":
      return `${e.data.hostId} ${e.data.resources.map((r) => `${r.kind}:${r.name}`).join(", ")}: ${e.data.reason}`;
    case "VmIdle":
      return `${e.data.vmId} on ${e.data.hostId} (runner ${e.data.runnerName}): ${e.data.reason}`;
    case "VmRetired":
    case "VmVanished":
      return `${e.data.vmId} on ${e.data.hostId}: ${e.data.reason}`;
    case "DeliveryRedelivered":
      return `${e.data.provider} ${e.data.event}${e.data.action ? `.${e.data.action}` : ""} ${e.data.guid} (was ${e.data.statusCode}): ${e.data.reason}`;
    case "HostFenced":
      return `${e.data.hostId} stopped ${e.data.vmsStopped.length} VM(s) (${e.data.trigger}): ${e.data.reason}`;
    case "HostLeaseExpired":
      return `${e.data.hostId} lease ran out ${e.data.waitedSec}s after HostLost: ${e.data.reason}`;
    case "PlacementExpired":
      return `${e.data.vmId} on ${e.data.hostId} for ${e.data.jobId}: ${e.data.reason}`;
    case "ResourceReclaimed":
      return `${e.data.hostId} ${e.data.reclaimed.length} reclaimed, ${e.data.failed.length} failed`;
    default: {
      const never: never = e;
      return JSON.stringify((never as { data: unknown }).data);
    }
  }
}

/** Whether an event concerns a job / a host (by its data, wherever it is stored). */
export function concerns(e: DomainEvent, f: { job?: string; host?: string }): boolean {
  const d = e.data as { jobId?: string; hostId?: string; fromHostId?: string };
  if (f.job && d.jobId !== f.job) return false;
  if (f.host && d.hostId !== f.host && d.fromHostId !== f.host) return false;
  return true;
}

/** `--since`: a sequence number, an ISO time, or a duration ago (`90s`, `10m`, `2h`, `1d`). */
export function parseSince(v: string, now: Date): { startSeq: number } | { startTime: Date } {
  if (/^\d+$/.test(v)) return { startSeq: Number(v) };
  const d = /^(\d+)(s|m|h|d)$/.exec(v);
  if (d) {
    const ms = Number(d[1]) * { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[d[2] as "s" | "m" | "h" | "d"];
    return { startTime: new Date(now.getTime() - ms) };
  }
  const t = new Date(v);
  if (Number.isNaN(t.getTime())) throw new Error(`--since ${JSON.stringify(v)}: expected a sequence, an ISO time or a duration like 10m`);
  return { startTime: t };
}
