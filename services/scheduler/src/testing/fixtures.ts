// Builders for the scheduler's tests and benches: events with sensible defaults, and a
// given(events) → decide() helper. Not part of the public surface.
import type { Arch, DomainEvent, EventOf, Provider, Stored } from "@oneshot/proto";
import type { Decision, DecisionEvent } from "../core/decision.js";
import { fold } from "../core/evolve.js";
import type { Policy } from "../core/follow-ups.js";
import { historyOf } from "../core/history.js";
import { place } from "../core/place.js";
import { initialState, type SchedulerState } from "../core/state.js";

export const NOW = "2026-01-01T00:00:00.000Z";

export interface HostOpts { arch?: Arch; vcpus?: number; memMiB?: number; diskGiB?: number; labels?: string[] }
export const registered = (hostId: string, o: HostOpts = {}): EventOf<"HostRegistered"> => ({
  type: "HostRegistered",
  data: {
    hostId, arch: o.arch ?? "amd64", capacity: { vcpus: o.vcpus ?? 8, memMiB: o.memMiB ?? 16384, diskGiB: o.diskGiB ?? 100 },
    labels: o.labels ?? [], vmm: "qemu", accel: "kvm", emulated: false, images: ["minimal"], publicKey: "AAAA", version: "test",
  },
});

export interface JobOpts { arch?: Arch; vcpus?: number; memMiB?: number; diskGiB?: number; org?: string; provider?: Provider; labels?: string[] }
export const queued = (jobId: string, o: JobOpts = {}): EventOf<"JobQueued"> => ({
  type: "JobQueued",
  data: {
    jobId,
    source: { provider: o.provider ?? "github", repo: `${o.org ?? "acme"}/repo`, org: o.org ?? "acme", providerJobId: jobId, labels: o.labels ?? ["self-hosted", "oneshot"] },
    spec: { arch: o.arch ?? "amd64", vcpus: o.vcpus ?? 1, memMiB: o.memMiB ?? 1024, diskGiB: o.diskGiB ?? 10, image: "minimal", timeoutSec: 600 },
  },
});

export const hostEvent = <T extends "HostCordoned" | "HostUncordoned" | "HostDrained" | "HostDeregistered">(type: T, hostId: string) =>
  ({ type, data: { hostId, reason: "test" } }) as EventOf<T>;
export const lost = (hostId: string): EventOf<"HostLost"> => ({ type: "HostLost", data: { hostId, lastSeenAt: null, reason: "no heartbeat for 60s" } });

type Ref = { hostId: string; vmId: string; jobId: string };
export const vmExited = (r: Ref, exitCode: number | null = 0, reason: EventOf<"VmExited">["data"]["reason"] = "exited"): EventOf<"VmExited"> =>
  ({ type: "VmExited", data: { ...r, exitCode, reason, runMs: 10 } });
export const vmDestroyed = (r: Ref): EventOf<"VmDestroyed"> => ({ type: "VmDestroyed", data: { ...r, removed: [] } });
export const vmBootFailed = (r: Ref): EventOf<"VmBootFailed"> =>
  ({ type: "VmBootFailed", data: { ...r, code: "agent-timeout", reason: "no ready marker", consoleTail: "" } });
export const jobEvent = <T extends "JobCompleted" | "JobCancelled" | "JobStarted">(type: T, jobId: string) =>
  (type === "JobCompleted"
    ? { type, data: { jobId, conclusion: "success", exitCode: 0, reportedBy: "provider" } }
    : type === "JobCancelled" ? { type, data: { jobId, reason: "test" } } : { type, data: { jobId } }) as EventOf<T>;

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
    return new Scenario([...this.log, ...historyOf(events, this.log.length + 1)]);
  }
  decide(policy?: Policy): Decision[] {
    return place(this.state, NOW, policy);
  }
  decisions(policy?: Policy): DecisionEvent[] {
    return this.decide(policy).map((d) => d.event);
  }
  /** The scheduler's decisions are appended (as one writer would) and folded back in. */
  decided(policy?: Policy): Scenario {
    return this.and(...this.decisions(policy));
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
