import fc from "fast-check";
import type { DomainEvent, Stored } from "@oneshot/proto";
import { createLogger, decodeState, encodeState, type EventStore } from "@oneshot/runtime";
import { describe, expect, it } from "vitest";
import { findExpiredLeases } from "./core/find-expired-leases.js";
import { findExpiredPlacements } from "./core/find-expired-placements.js";
import { findLeaks } from "./core/find-leaks.js";
import { findLostHosts, livenessOf } from "./core/find-lost-hosts.js";
import { Log, T0, Telemetry, allOf, settings } from "./core/scenario.test-kit.js";
import { isDesiredSnapshot, seenOf, type DesiredSnapshot } from "./desired-snapshots.js";
import { DesiredView } from "./desired-view.js";

// Snapshot + tail must be the full replay, exactly: the janitor that starts from a snapshot has
// the desired state (and the registrations and losses it read) that a full replay gives, and
// judges the same leaks, lost hosts and expired leases. Random logs over every event the fold
// reads: placements, boots, swapped runners, ends of every kind, lost and fenced hosts,
// reclaims and their answers, warm VMs, deliveries twice; each cut at a random point.

const pickOf = fc.nat();
const action = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant("place" as const), host: fc.nat(), local: fc.boolean(), timeout: fc.integer({ min: 1, max: 900 }) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constantFrom("boot-req" as const, "booted" as const, "start" as const, "start-other" as const, "rebound" as const),
      pick: pickOf,
      other: pickOf,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constantFrom("complete" as const, "cancel" as const, "fail" as const, "requeue" as const, "requeue-v1" as const),
      pick: pickOf,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constantFrom(
        "exited" as const,
        "destroyed" as const,
        "boot-failed" as const,
        "retired" as const,
        "vanished" as const,
        "expired" as const,
        "idle" as const,
      ),
      pick: pickOf,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constantFrom("register" as const, "lose" as const, "fence" as const, "lease-expired" as const, "deregister" as const, "warm" as const),
      host: fc.nat(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constantFrom("reclaim" as const, "answer" as const), pick: pickOf, failed: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("repeat" as const), pick: pickOf }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("later" as const), seconds: fc.integer({ min: 0, max: 600 }) }) },
);
const logArb = fc.record({
  hosts: fc.integer({ min: 1, max: 3 }),
  actions: fc.array(action, { minLength: 5, maxLength: 120 }),
  cut: fc.double({ min: 0, max: 1, noNaN: true }),
});

function generate(w: { hosts: number; actions: { k: string; [x: string]: unknown }[] }): Stored<DomainEvent>[] {
  const log = new Log();
  let t = 0;
  const hosts = Array.from({ length: w.hosts }, (_, i) => `h${i}`);
  for (const h of hosts) log.registered(t, h);
  const vms: { jobId: string; vmId: string; hostId: string }[] = [];
  const reclaims: { reclaimId: string; hostId: string; name: string }[] = [];
  const pick = <T>(xs: T[], n: unknown): T | undefined => (xs.length ? xs[(n as number) % xs.length] : undefined);
  let n = 0;
  for (const a of w.actions) {
    const vm = pick(vms, a.pick);
    const host = pick(hosts, a.host)!;
    switch (a.k) {
      case "place": {
        const r = { jobId: `j${n}`, vmId: `vm${n}`, hostId: pick(hosts, a.host)! };
        n++;
        vms.push(r);
        log.queued(t, r.jobId).scheduled(t, r.jobId, r.vmId, r.hostId, { timeoutSec: a.timeout as number, ...(a.local ? { script: "make" } : {}) });
        break;
      }
      case "boot-req":
        if (vm) log.bootRequested(t, vm.jobId, vm.vmId, vm.hostId);
        break;
      case "booted":
        if (vm) log.booted(t, vm.jobId, vm.vmId, vm.hostId);
        break;
      case "start":
        if (vm) log.started(t, vm.jobId, vm.vmId, (a.other as number) % 2 ? vm.hostId : undefined);
        break;
      case "start-other": {
        const o = pick(vms, a.other);
        if (vm && o) log.started(t, o.jobId, vm.vmId, vm.hostId);
        break;
      }
      case "rebound": {
        const o = pick(vms, a.other);
        if (vm && o) log.rebound(t, o.jobId, vm.vmId, vm.hostId);
        break;
      }
      case "complete":
        if (vm) log.completed(t, vm.jobId);
        break;
      case "cancel":
        if (vm) log.add(t, { type: "JobCancelled", data: { jobId: vm.jobId, reason: "test" } });
        break;
      case "fail":
        if (vm) log.add(t, { type: "JobFailed", data: { jobId: vm.jobId, reason: "test", attempts: 3 } } as DomainEvent);
        break;
      case "requeue":
      case "requeue-v1":
        if (vm)
          log.add(t, {
            type: "JobRequeued",
            data: { jobId: vm.jobId, fromHostId: vm.hostId, vmId: vm.vmId, reason: "r", attempt: 1, releasesVm: a.k === "requeue-v1" },
          });
        break;
      case "exited":
        if (vm) log.add(t, { type: "VmExited", data: { ...vm, exitCode: 0, reason: "exited", runMs: 10 } });
        break;
      case "destroyed":
        if (vm) log.add(t, { type: "VmDestroyed", data: { ...vm, removed: [] } });
        break;
      case "boot-failed":
        if (vm) log.add(t, { type: "VmBootFailed", data: { ...vm, code: "agent-timeout", reason: "no ready marker", consoleTail: "" } });
        break;
      case "retired":
        if (vm) log.add(t, { type: "VmRetired", data: { hostId: vm.hostId, vmId: vm.vmId, reason: "runner removed" } });
        break;
      case "vanished":
        if (vm) log.add(t, { type: "VmVanished", data: { ...vm, reason: "gone" } });
        break;
      case "expired":
        if (vm) log.add(t, { type: "PlacementExpired", data: { ...vm, attempt: 0, waitedSec: 300, reason: "late" } });
        break;
      case "idle":
        if (vm)
          log.add(t, {
            type: "VmIdle",
            data: { hostId: vm.hostId, vmId: vm.vmId, bootedForJobId: vm.jobId, runnerName: "r", reason: "idle", candidateJobIds: [] },
          } as DomainEvent);
        break;
      case "register":
        log.registered(t, host);
        break;
      case "lose":
        log.add(t, { type: "HostLost", data: { hostId: host, lastSeenAt: null, reason: "silent" } });
        break;
      case "fence":
        log.add(t, { type: "HostFenced", data: { hostId: host, registeredSeq: 1, lostSeq: 2, trigger: "host-lost", vmsStopped: [], reason: "test" } });
        break;
      case "lease-expired":
        log.add(t, { type: "HostLeaseExpired", data: { hostId: host, registeredSeq: 1, lostSeq: log.events.length, waitedSec: 45, reason: "test" } });
        break;
      case "deregister":
        log.add(t, { type: "HostDeregistered", data: { hostId: host, reason: "drained" } });
        break;
      case "warm": {
        const vmId = `warm${n++}`;
        log.add(t, { type: "VmWarmed", data: { hostId: host, vmId, shape: "s" } } as unknown as DomainEvent);
        break;
      }
      case "reclaim":
        if (vm) {
          const r = { reclaimId: `rc${n++}`, hostId: vm.hostId, name: `os-${vm.vmId}` };
          reclaims.push(r);
          log.add(t, {
            type: "ReclaimRequested",
            data: { hostId: r.hostId, reclaimId: r.reclaimId, reason: "x", resources: [{ kind: "tap", name: r.name, vmId: vm.vmId }] },
          } as DomainEvent);
        }
        break;
      case "answer": {
        const r = pick(reclaims, a.pick);
        if (r)
          log.add(t, {
            type: "ResourceReclaimed",
            data: { hostId: r.hostId, reclaimId: r.reclaimId, reclaimed: [], failed: a.failed ? [{ kind: "tap", name: r.name, error: "busy" }] : [] },
          } as DomainEvent);
        break;
      }
      case "repeat": {
        const e = pick(log.events, a.pick);
        if (e) log.events.push({ ...e, seq: log.events.length + 1, id: `again${log.events.length + 1}` });
        break;
      }
      case "later":
        t += a.seconds as number;
        break;
    }
  }
  // `repeat` pushed past the Log's own counter: renumber so sequences are strictly increasing.
  return log.events.map((e, i) => ({ ...e, seq: i + 1 }));
}

const NOW_MS = T0 + 3_600_000;
const log = createLogger("desired-snapshots-test", { level: "silent" });
const view = (clock: number) => new DesiredView(undefined as unknown as EventStore, { log, onFatal: () => undefined, clock: () => clock });

/** Maps and Sets as arrays of their entries, in iteration order (toEqual ignores that order). */
const ordered = (x: unknown): unknown =>
  JSON.parse(JSON.stringify(x, (_k, v: unknown) => (v instanceof Map ? { map: [...v] } : v instanceof Set ? { set: [...v] } : v)));

/** What the janitor would do with a view: every decision of every pure judge, on the same telemetry. */
function judged(v: DesiredView, hosts: string[]) {
  const tel = new Telemetry();
  for (const [i, h] of hosts.entries()) if (i % 2 === 0) tel.inventory(h, 3_000, allOf(`vm${i}`));
  return {
    leaks: findLeaks(v.state, tel.hosts, NOW_MS, settings),
    lost: findLostHosts(livenessOf(v.state, tel.hosts, v.seen), NOW_MS, 60_000, T0),
    leases: findExpiredLeases(v.state, v.seen, NOW_MS, 30_000),
    placements: findExpiredPlacements(v.state, NOW_MS, 300_000),
  };
}

const resumesExactly = (roundTrip: (s: DesiredSnapshot) => DesiredSnapshot) =>
  fc.property(logArb, (w) => {
    const events = generate(w);
    const cut = Math.floor(w.cut * events.length);
    // Replayed events count as read at start: both views start at the same moment.
    const full = view(T0);
    for (const e of events) full.apply(e);
    const before = view(T0);
    for (const e of events.slice(0, cut)) before.apply(e);
    const snap = roundTrip(before.snapshot());
    if (!isDesiredSnapshot(snap, { seq: cut } as never)) throw new Error("a round-tripped snapshot is not a desired snapshot");
    const resumed = view(T0);
    resumed.state = snap.desired;
    resumed.seen = seenOf(snap, T0);
    for (const e of events.slice(cut)) resumed.apply(e);
    expect(ordered(resumed.state)).toEqual(ordered(full.state));
    expect(ordered(resumed.seen)).toEqual(ordered(full.seen));
    expect(Buffer.from(encodeState(resumed.snapshot())).equals(Buffer.from(encodeState(full.snapshot())))).toBe(true);
    const hosts = Array.from({ length: w.hosts }, (_, i) => `h${i}`);
    expect(judged(resumed, hosts)).toEqual(judged(full, hosts));
  });

describe("janitor desired-state snapshots", () => {
  it("snapshot + tail gives exactly the state, the hosts read and the decisions of a full replay (random logs, random cut)", () => {
    fc.assert(
      resumesExactly((s) => decodeState<DesiredSnapshot>(encodeState(s))),
      { numRuns: 300 },
    );
  });

  it("would catch a snapshot that forgets when a host last registered (the property can fail)", () => {
    const dropsSeen = (s: DesiredSnapshot) => ({ ...decodeState<DesiredSnapshot>(encodeState(s)), seen: new Map() });
    expect(fc.check(resumesExactly(dropsSeen), { numRuns: 200, seed: 11 }).failed).toBe(true);
  });

  it("refuses what is not a desired snapshot, or one folded past its head", () => {
    const v = view(T0);
    for (const e of new Log().registered(0, "h0").queued(1, "j1").events) v.apply(e);
    const good = decodeState<unknown>(encodeState(v.snapshot()));
    expect(isDesiredSnapshot(good, { seq: 2 } as never)).toBe(true);
    expect(isDesiredSnapshot(good, { seq: 1 } as never)).toBe(false);
    expect(isDesiredSnapshot(decodeState(encodeState({ desired: { vms: [] }, seen: new Map() })), { seq: 9 } as never)).toBe(false);
    expect(isDesiredSnapshot(decodeState(encodeState([1, 2, 3])), { seq: 9 } as never)).toBe(false);
  });
});
