import type { LeakedResource } from "@oneshot/proto";
import type { DesiredHost, DesiredState, DesiredVm } from "./desired-state.js";
import type { ObservedHost, ObservedInventory } from "./observed-state.js";
import type { Leak, LeakCause, LeakSettings, Plan, ReclaimDecision, StuckReclaim, VanishedFact } from "./plan.js";
import { reclaimIdFor } from "./reclaim-id.js";
import type { ObservedResource } from "./resource-names.js";

/** The janitor's verdict on one VM id of one host. */
interface Verdict {
  cause: LeakCause;
  detail: string;
  since: number;
  graceMs: number;
  /** Grace over: the latest inventory is recent enough to act on. */
  ready: boolean;
  /** The log holds the VM as live and its host does not have it: a VmVanished fact too. */
  vanished: boolean;
  /** The event that made the VM unwanted, when there is one. */
  causationId: string | null;
}

/**
 * Compares what the log wants (`desired`) with what each live host reports (`observed`) and
 * says what to reclaim, which reclaims are stuck, and which VMs vanished (facts; what
 * becomes of their jobs is the scheduler's call). Pure.
 *
 * Only hosts with a fresh heartbeat and a fresh inventory are judged: a silent host is the
 * business of `findLostHosts` (its jobs are requeued by the scheduler on HostLost), and its
 * leftovers are reclaimed when it comes back and reports again.
 */
export function findLeaks(desired: DesiredState, observed: ReadonlyMap<string, ObservedHost>, now: number, s: LeakSettings): Plan {
  const plan: Plan = { reclaims: [], stuck: [], vanished: [], waiting: [] };
  for (const host of [...observed.values()].sort((a, b) => a.hostId.localeCompare(b.hostId))) {
    const inv = host.inventory;
    if (host.heartbeatAt === undefined || now - host.heartbeatAt >= s.staleAfterMs) continue;
    if (!inv || now - inv.observedAt >= s.staleAfterMs) continue;
    judgeHost(desired, host.hostId, inv, s, plan);
  }
  return plan;
}

function judgeHost(desired: DesiredState, hostId: string, inv: ObservedInventory, s: LeakSettings, plan: Plan): void {
  const buckets = new Map<string, ObservedResource[]>();
  for (const r of inv.resources) buckets.set(r.vmId, [...(buckets.get(r.vmId) ?? []), r]);
  const verdicts = new Map<string, Verdict>();
  const hostRec = desired.hosts.get(hostId);

  // VMs the log places on this host and still wants: are they still there, and within their time?
  for (const vmId of [...(desired.vmsByHost.get(hostId) ?? [])].sort()) {
    const vm = desired.vms.get(vmId);
    if (!vm || vm.ended) continue;
    const v = judgeWantedVm(desired, vm, hostRec, inv, buckets.get(vmId) ?? [], s);
    if (v) verdicts.set(vmId, v);
  }
  // Everything else this host reports, by VM id.
  for (const [vmId, res] of [...buckets].sort(([a], [b]) => a.localeCompare(b))) {
    if (verdicts.has(vmId)) continue;
    const vm = desired.vms.get(vmId);
    if (!vm) {
      const since = Math.min(...res.map((r) => inv.firstSeenAt.get(`${r.kind}:${r.name}`) ?? inv.observedAt));
      verdicts.set(vmId, verdict("unknown-vm", `VM ${vmId} is unknown to the event log`, since, s.bootGraceMs, inv, false, null));
    } else if (vm.ended) {
      verdicts.set(vmId, verdict(vm.ended.cause, vm.ended.detail, vm.ended.at, s.destroyGraceMs, inv, false, vm.ended.eventId));
    }
    // Wanted (here, or on another host sharing this machine): keep.
  }

  for (const [vmId, v] of verdicts) {
    const vm = desired.vms.get(vmId);
    const res = buckets.get(vmId) ?? [];
    const leaks: Leak[] = res.map((resource) => ({ hostId, resource, cause: v.cause, detail: v.detail, since: v.since, graceMs: v.graceMs }));
    if (!v.ready) {
      plan.waiting.push(...leaks);
      continue;
    }
    if (v.vanished && vm) plan.vanished.push(vanishedFact(vm, v));
    const toRequest: Leak[] = [];
    for (const leak of leaks) {
      const h = history(desired, hostId, leak, inv, s);
      if (h.stuck) plan.stuck.push(h.stuck);
      if (h.request) toRequest.push(leak);
    }
    if (toRequest.length) plan.reclaims.push(...reclaimsFor(hostId, inv.seq, vmId, v, toRequest, vm?.correlationId));
  }
}

function judgeWantedVm(
  desired: DesiredState,
  vm: DesiredVm,
  host: DesiredHost | undefined,
  inv: ObservedInventory,
  bucket: readonly ObservedResource[],
  s: LeakSettings,
): Verdict | undefined {
  if (vm.bootRequestedAt === undefined || vm.bootRequestedSeq === undefined) return undefined; // not taken by hostd yet: nothing exists
  const booted = vm.bootedAt !== undefined;
  const running = inv.vmProcesses.has(vm.vmId);
  // hostd restarted after it took the VM, has said nothing about it since, and its VMM still
  // runs: the VM lost its supervisor (console reader, timeout) and is dead to its job. (hostd
  // destroys such VMs itself at start and logs it; this catches a hostd that did not.)
  if (running && host && host.registeredSeq > vm.bootRequestedSeq && vm.lastVmEventSeq < host.registeredSeq) {
    const grace = booted ? s.destroyGraceMs : s.bootGraceMs;
    return verdict(
      "orphaned-by-restart",
      `hostd on ${vm.hostId} restarted while VM ${vm.vmId} was ${booted ? "running" : "booting"} and has not taken it back`,
      host.registeredAt,
      grace,
      inv,
      true,
      host.registeredEventId,
    );
  }
  // The log says the VM runs but its VMM is gone; or it was accepted and nothing of it (not
  // even the run dir hostd writes before accepting) is left. A VM waiting in hostd's queue
  // has its run dir, and is kept. The grace counts from the boot or from the last inventory
  // that still listed it, whichever is later: hostd logs an exit it sees within that time.
  if (booted ? !running : bucket.length === 0) {
    const lastSeen = inv.lastSeenAt.get(booted ? `vm:${vm.vmId}` : `any:${vm.vmId}`) ?? Number.NEGATIVE_INFINITY;
    const since = booted ? Math.max(vm.bootedAt!, lastSeen) : Math.max(vm.bootRequestedAt + s.bootGraceMs - s.destroyGraceMs, lastSeen);
    const what = booted ? "running" : "accepted";
    return verdict("vanished", `host ${vm.hostId} does not report VM ${vm.vmId}, which the log says is ${what}`, since, s.destroyGraceMs, inv, true, null);
  }
  const limit = running ? timeLimit(desired, vm) : undefined;
  if (limit && inv.observedAt >= limit.deadline) {
    return verdict(
      "past-timeout",
      `VM ${vm.vmId} is past ${limit.what} of ${limit.timeoutSec}s`,
      limit.deadline,
      s.bootGraceMs,
      inv,
      false,
      vm.scheduledEventId ?? null,
    );
  }
  return undefined;
}

/**
 * How long a live VM may exist. Running a job: that job's own timeout, from when it started
 * there (a bound VM runs from its boot). Running nothing and not bound: its claim's timeout,
 * from its boot or the rebind that gave it the claim, whichever is later; the backstop for a
 * scheduler or reconciler that never idles or retires it. No claim left: the VM's own.
 */
function timeLimit(desired: DesiredState, vm: DesiredVm): { deadline: number; timeoutSec: number; what: string } | undefined {
  const start = vm.bootedAt ?? vm.bootRequestedAt!;
  const jobId = vm.runningJobId ?? vm.claimJobId;
  const timeoutSec = (jobId === undefined ? undefined : desired.jobs.get(jobId)?.timeoutSec) ?? vm.timeoutSec;
  if (timeoutSec === undefined) return undefined;
  const from = Math.max(start, (vm.runningJobId !== undefined ? vm.runningSince : vm.claimedAt) ?? start);
  const what =
    vm.runningJobId !== undefined
      ? `the timeout of job ${vm.runningJobId} it runs`
      : vm.claimJobId !== undefined
        ? `the timeout of job ${vm.claimJobId} it is held for, running nothing`
        : "its timeout, running nothing and held for no job";
  return { deadline: from + timeoutSec * 1000, timeoutSec, what };
}

function verdict(
  cause: LeakCause,
  detail: string,
  since: number,
  graceMs: number,
  inv: ObservedInventory,
  vanished: boolean,
  causationId: string | null,
): Verdict {
  // Grace is judged on when the inventory was taken, not on when we read it: a stale report
  // must not make a VM look older than it was.
  return { cause, detail, since, graceMs, ready: inv.observedAt >= since + graceMs, vanished, causationId };
}

function vanishedFact(vm: DesiredVm, v: Verdict): VanishedFact {
  return {
    hostId: vm.hostId,
    vmId: vm.vmId,
    msgId: `vanished:${vm.hostId}:${vm.vmId}`,
    correlationId: vm.correlationId,
    causationId: v.causationId,
    // jobId: the job it was booted for, as in every VM event; the scheduler knows what ran on it.
    event: { type: "VmVanished", data: { hostId: vm.hostId, vmId: vm.vmId, jobId: vm.jobId, reason: `${v.cause}: ${v.detail}`.slice(0, 512) } },
  };
}

/** Has this resource been asked for before, and did that take? */
function history(desired: DesiredState, hostId: string, leak: Leak, inv: ObservedInventory, s: LeakSettings): { request: boolean; stuck?: StuckReclaim } {
  const key = `${leak.resource.kind}:${leak.resource.name}`;
  const ids = desired.reclaimsByResource.get(`${hostId}|${key}`) ?? [];
  const last = ids.length ? desired.reclaims.get(ids[ids.length - 1]!) : undefined;
  if (!last) return { request: true };
  const resource = toLeaked(leak);
  const stuck = (why: StuckReclaim["why"], detail: string): StuckReclaim => ({
    hostId,
    reclaimId: last.reclaimId,
    resource,
    why,
    detail,
    key: `${last.reclaimId}|${key}|${why}`,
  });
  if (!last.answer) {
    if (inv.observedAt >= last.requestedAt + s.reclaimTimeoutMs) {
      return { request: false, stuck: stuck("no-answer", `no ResourceReclaimed ${Math.round((inv.observedAt - last.requestedAt) / 1000)}s after the request`) };
    }
    return { request: false }; // in flight
  }
  if (inv.observedAt <= last.answer.at) return { request: false }; // this inventory predates the answer
  const error = last.answer.failed.get(key);
  const again = ids.length < s.maxReclaimAttempts;
  const tail = again ? `; asking again (${ids.length + 1}/${s.maxReclaimAttempts})` : "; giving up asking";
  return {
    request: again,
    stuck: error ? stuck("failed", `hostd failed to reclaim it: ${error}${tail}`) : stuck("still-present", `still reported after hostd answered${tail}`),
  };
}

const toLeaked = (l: Leak): LeakedResource => ({ kind: l.resource.kind, name: l.resource.name, vmId: l.resource.vmId });

function reclaimsFor(hostId: string, inventorySeq: number, vmId: string, v: Verdict, leaks: Leak[], correlationId: string | undefined): ReclaimDecision[] {
  const out: ReclaimDecision[] = [];
  // A ReclaimRequested holds at most 256 resources; one VM id never has that many, but be exact.
  for (let i = 0; i < leaks.length; i += 256) {
    const chunk = leaks.slice(i, i + 256);
    const resources = chunk.map(toLeaked);
    const kinds = [...new Set(resources.map((r) => r.kind))].join(", ");
    const reclaimId = reclaimIdFor(hostId, inventorySeq, resources);
    out.push({
      hostId,
      reclaimId,
      msgId: `reclaim:${reclaimId}`,
      inventorySeq,
      resources,
      leaks: chunk,
      correlationId: correlationId ?? reclaimId,
      causationId: v.causationId,
      reason: `${v.cause}: ${v.detail} (${kinds} of ${vmId})`.slice(0, 512),
    });
  }
  return out;
}
