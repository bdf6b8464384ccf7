// Builders for the scheduler's tests and benches: events with sensible defaults, and a
// given(events) → decide() helper. Not part of the public surface.
import type { Arch, DomainEvent, EventOf, Provider, Stored } from "@oneshot/proto";
import type { Decision, DecisionEvent } from "../core/decision.js";
import { fold } from "../core/evolve.js";
import type { Policy } from "../core/follow-ups.js";
import { historyOf } from "../core/history.js";
import { defaultPolicy, place } from "../core/place.js";
import { initialState, type SchedulerState } from "../core/state.js";

export const NOW = "2026-01-01T00:00:00.000Z";

export interface HostOpts {
  arch?: Arch;
  vcpus?: number;
  memMiB?: number;
  diskGiB?: number;
  labels?: string[];
}
export const registered = (hostId: string, o: HostOpts = {}): EventOf<"HostRegistered"> => ({
  type: "HostRegistered",
  data: {
    hostId,
    arch: o.arch ?? "amd64",
    capacity: { vcpus: o.vcpus ?? 8, memMiB: o.memMiB ?? 16384, diskGiB: o.diskGiB ?? 100 },
    labels: o.labels ?? [],
    vmm: "qemu",
    accel: "kvm",
    emulated: false,
    images: ["minimal"],
    publicKey: "AAAA",
    version: "test",
  },
});

export interface JobOpts {
  arch?: Arch;
  vcpus?: number;
  memMiB?: number;
  diskGiB?: number;
  org?: string;
  provider?: Provider;
  labels?: string[];
  image?: string;
}
export const queued = (jobId: string, o: JobOpts = {}): EventOf<"JobQueued"> => ({
  type: "JobQueued",
  data: {
    jobId,
    source: {
      provider: o.provider ?? "github",
      repo: `${o.org ?? "acme"}/repo`,
      org: o.org ?? "acme",
      providerJobId: jobId,
      labels: o.labels ?? ["self-hosted", "oneshot"],
    },
    spec: { arch: o.arch ?? "amd64", vcpus: o.vcpus ?? 1, memMiB: o.memMiB ?? 1024, diskGiB: o.diskGiB ?? 10, image: o.image ?? "minimal", timeoutSec: 600 },
  },
});

export const hostEvent = <T extends "HostCordoned" | "HostUncordoned" | "HostDrained" | "HostDeregistered">(type: T, hostId: string) =>
  ({ type, data: { hostId, reason: "test" } }) as EventOf<T>;
export const lost = (hostId: string): EventOf<"HostLost"> => ({ type: "HostLost", data: { hostId, lastSeenAt: null, reason: "no heartbeat for 60s" } });
/** hostd read its HostLost and stopped its VMs (docs/fencing.md). */
export const fenced = (hostId: string, vmsStopped: string[] = [], trigger: "host-lost" | "lease-expired" = "host-lost"): EventOf<"HostFenced"> => ({
  type: "HostFenced",
  data: { hostId, registeredSeq: 1, lostSeq: trigger === "host-lost" ? 2 : null, trigger, vmsStopped, reason: "test" },
});
/** The janitor: no fence reported, the lost host's lease ran out. */
export const leaseExpired = (hostId: string): EventOf<"HostLeaseExpired"> => ({
  type: "HostLeaseExpired",
  data: { hostId, registeredSeq: 1, lostSeq: 2, waitedSec: 45, reason: "test" },
});
export const placementExpired = (r: Ref, attempt = 0): EventOf<"PlacementExpired"> => ({
  type: "PlacementExpired",
  data: { ...r, attempt, waitedSec: 300, reason: "no VmBootRequested 300s after JobScheduled" },
});
export const vmBootRequested = (r: Ref): EventOf<"VmBootRequested"> => ({ type: "VmBootRequested", data: { ...r, tap: `os-${r.vmId}`, disks: [] } });

export type Ref = { hostId: string; vmId: string; jobId: string };
export const vmExited = (r: Ref, exitCode: number | null = 0, reason: EventOf<"VmExited">["data"]["reason"] = "exited"): EventOf<"VmExited"> => ({
  type: "VmExited",
  data: { ...r, exitCode, reason, runMs: 10 },
});
export const vmDestroyed = (r: Ref): EventOf<"VmDestroyed"> => ({ type: "VmDestroyed", data: { ...r, removed: [] } });
export const vmBootFailed = (r: Ref): EventOf<"VmBootFailed"> => ({
  type: "VmBootFailed",
  data: { ...r, code: "agent-timeout", reason: "no ready marker", consoleTail: "" },
});
export const jobEvent = <T extends "JobCompleted" | "JobCancelled" | "JobStarted">(type: T, jobId: string) =>
  (type === "JobCompleted"
    ? { type, data: { jobId, conclusion: "success", exitCode: 0, reportedBy: "provider" } }
    : type === "JobCancelled"
      ? { type, data: { jobId, reason: "test" } }
      : { type, data: { jobId, reportedBy: "webhook" } }) as EventOf<T>;

/** The provider says job `jobId` started on the runner of VM `on` (named by VM id only when `withHost` is false). */
export const started = (jobId: string, on: Ref, withHost = true): EventOf<"JobStarted"> => ({
  type: "JobStarted",
  data: { jobId, runnerName: `oneshot-${on.hostId}-${on.vmId}`, vmId: on.vmId, ...(withHost ? { hostId: on.hostId } : {}), reportedBy: "webhook" },
});
export const vmBooted = (r: Ref): EventOf<"VmBooted"> => ({
  type: "VmBooted",
  data: { ...r, vmm: "qemu", accel: "kvm", pid: 1, timings: { diskMs: 1, configMs: 1, netMs: 1, vmmStartMs: 1, agentReadyMs: 1, totalMs: 5 } },
});
export const vmVanished = (r: Ref): EventOf<"VmVanished"> => ({ type: "VmVanished", data: { ...r, reason: "not in the host's inventory" } });
export const vmRetired = (r: Ref): EventOf<"VmRetired"> => ({ type: "VmRetired", data: { hostId: r.hostId, vmId: r.vmId, reason: "runner removed" } });

/** A log, the state folded from it, and the scheduler's decisions on that state. */
export class Scenario {
  readonly log: Stored<DomainEvent>[];
  readonly state: SchedulerState;
  constructor(log: Stored<DomainEvent>[]) {
    this.log = log;
    this.state = fold(initialState(), log);
  }
  /** More events happen. */
  and(...events: DomainEvent[]): Scenario {
    return this.andAt(NOW, ...events);
  }
  /** More events happen at time `at`. */
  andAt(at: string, ...events: DomainEvent[]): Scenario {
    return new Scenario([...this.log, ...historyOf(events, this.log.length + 1, at)]);
  }
  decide(policy?: Partial<Policy>, now = NOW): Decision[] {
    return place(this.state, now, { ...defaultPolicy, ...policy });
  }
  decisions(policy?: Partial<Policy>, now = NOW): DecisionEvent[] {
    return this.decide(policy, now).map((d) => d.event);
  }
  /** The scheduler's decisions are appended (as one writer would) and folded back in. */
  decided(policy?: Partial<Policy>, now = NOW): Scenario {
    return this.andAt(now, ...this.decisions(policy, now));
  }
  /** The reservation a job's current attempt holds. */
  placementOf(jobId: string): Ref {
    const job = this.state.jobs.get(jobId);
    if (!job?.hostId || !job.vmId) throw new Error(`${jobId} is not placed`);
    return { jobId, hostId: job.hostId, vmId: job.vmId };
  }
}

export const given = (...events: DomainEvent[]): Scenario => new Scenario(historyOf(events));

export const placements = (events: readonly DecisionEvent[]): Record<string, string> =>
  Object.fromEntries(events.flatMap((e) => (e.type === "JobScheduled" ? [[e.data.jobId, e.data.hostId]] : [])));
