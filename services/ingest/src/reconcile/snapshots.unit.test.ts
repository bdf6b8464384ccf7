import fc from "fast-check";
import type { DomainEvent, Stored } from "@oneshot/proto";
import { decodeState, encodeState } from "@oneshot/runtime";
import { describe, expect, it } from "vitest";
import { evolve, initialState, prune, type ReconcileState } from "./projection.js";
import { isReconcileState } from "./snapshots.js";
import { staleJobs } from "./stale-jobs.js";
import { T0, ghSource, queued, stored } from "./test-events.js";

// Snapshot + tail must be the full replay, exactly: a reconciler that starts from a snapshot
// has the jobs, idle VMs and redelivery marks a full replay gives, and picks the same stale jobs.
// Random logs over every event the fold reads, deliveries twice, each cut at a random point.

const action = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constantFrom("queue" as const, "ignore" as const), local: fc.boolean() }) },
  {
    weight: 5,
    arbitrary: fc.record({ k: fc.constantFrom("start" as const, "end" as const, "schedule" as const, "requeue" as const), pick: fc.nat(), on: fc.nat() }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ k: fc.constantFrom("idle" as const, "retire" as const, "vm-gone" as const, "host-lost" as const), pick: fc.nat(), on: fc.nat() }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("redelivered" as const), guid: fc.integer({ min: 0, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("repeat" as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("later" as const), minutes: fc.integer({ min: 0, max: 600 }) }) },
);
const logArb = fc.record({ actions: fc.array(action, { minLength: 5, maxLength: 120 }), cut: fc.double({ min: 0, max: 1, noNaN: true }) });

function generate(actions: { k: string; [x: string]: unknown }[]): Stored<DomainEvent>[] {
  const out: Stored<DomainEvent>[] = [];
  let t = T0;
  const jobs: string[] = [];
  const hosts = ["h0", "h1"];
  const add = (e: DomainEvent) => out.push(stored(e, t));
  const pick = <T>(xs: T[], n: unknown): T | undefined => (xs.length ? xs[(n as number) % xs.length] : undefined);
  for (const a of actions) {
    const jobId = pick(jobs, a.pick);
    const hostId = pick(hosts, a.on)!;
    const vmId = `vm${(a.pick as number) % 7}`;
    switch (a.k) {
      case "queue":
      case "ignore": {
        const id = `${a.local ? "local" : "gh"}-${jobs.length}`;
        jobs.push(id);
        add(
          a.k === "queue"
            ? queued(id, ghSource(String(jobs.length)))
            : { type: "JobIgnored", data: { jobId: id, source: ghSource(String(jobs.length)), reason: "not ours" } },
        );
        break;
      }
      case "start":
        if (jobId)
          add({
            type: "JobStarted",
            data: { jobId, runnerName: `oneshot-${hostId}-${vmId}`, vmId, ...((a.on as number) % 2 ? { hostId } : {}), reportedBy: "webhook" },
          });
        break;
      case "end":
        if (jobId) add({ type: "JobCompleted", data: { jobId, conclusion: "success", exitCode: 0, reportedBy: "provider" } });
        break;
      case "schedule":
        if (jobId)
          add({
            type: "JobScheduled",
            data: { jobId, hostId, vmId, spec: { arch: "amd64", vcpus: 1, memMiB: 256, diskGiB: 1, image: "minimal", timeoutSec: 60 }, attempt: 0 },
          });
        break;
      case "requeue":
        if (jobId) add({ type: "JobRequeued", data: { jobId, fromHostId: hostId, vmId, reason: "r", attempt: 1, releasesVm: false } });
        break;
      case "idle":
        add({
          type: "VmIdle",
          data: { hostId, vmId, bootedForJobId: jobId ?? "gh-x", runnerName: `oneshot-${hostId}-${vmId}`, reason: "idle", candidateJobIds: jobs.slice(0, 3) },
        });
        break;
      case "retire":
        add({ type: "VmRetired", data: { hostId, vmId, reason: "runner removed" } });
        break;
      case "vm-gone":
        add({ type: "VmDestroyed", data: { hostId, vmId, jobId: jobId ?? "gh-x", removed: [] } });
        break;
      case "host-lost":
        add({ type: "HostLost", data: { hostId, lastSeenAt: null, reason: "silent" } });
        break;
      case "redelivered":
        add({
          type: "DeliveryRedelivered",
          data: {
            provider: "github",
            deliveryId: `d${a.guid as number}`,
            guid: `g${a.guid as number}`,
            event: "workflow_job",
            action: "queued",
            reason: "failed",
          },
        } as DomainEvent);
        break;
      case "repeat": {
        const e = pick(out, a.pick);
        if (e) add({ type: e.type, data: e.data } as DomainEvent);
        break;
      }
      case "later":
        t += (a.minutes as number) * 60_000;
        break;
    }
  }
  return out.map((e, i) => ({ ...e, seq: i + 1 }));
}

const ordered = (x: unknown): unknown =>
  JSON.parse(JSON.stringify(x, (_k, v: unknown) => (v instanceof Map ? { map: [...v] } : v instanceof Set ? { set: [...v] } : v)));
const NOW = T0 + 2 * 86_400_000;
const decisions = (s: ReconcileState) =>
  staleJobs(s, NOW, new Map(), { staleAfterMs: 300_000, intervalMs: 120_000, maxPerTick: 50, hasApi: () => true }).map((j) => j.jobId);

const resumesExactly = (roundTrip: (s: ReconcileState) => ReconcileState) =>
  fc.property(logArb, (w) => {
    const events = generate(w.actions);
    const cut = Math.floor(w.cut * events.length);
    const full = events.reduce((s, e) => evolve(s, e), initialState());
    const snap = roundTrip(events.slice(0, cut).reduce((s, e) => evolve(s, e), initialState()));
    if (!isReconcileState(snap, { seq: cut } as never)) throw new Error("a round-tripped snapshot is not a reconcile state");
    const resumed = events.slice(cut).reduce((s, e) => evolve(s, e), snap);
    expect(ordered(resumed)).toEqual(ordered(full));
    expect(decisions(resumed)).toEqual(decisions(full));
    prune(resumed, NOW);
    prune(full, NOW);
    expect(ordered(resumed)).toEqual(ordered(full));
  });

describe("reconciler snapshots", () => {
  it("snapshot + tail gives exactly the state and the stale-job choice of a full replay (random logs, random cut)", () => {
    fc.assert(
      resumesExactly((s) => decodeState<ReconcileState>(encodeState(s))),
      { numRuns: 300 },
    );
  });

  it("would catch a snapshot that loses the idle VMs (the property can fail)", () => {
    const dropsIdles = (s: ReconcileState) => ({ ...decodeState<ReconcileState>(encodeState(s)), idles: new Map() });
    expect(fc.check(resumesExactly(dropsIdles), { numRuns: 300, seed: 5 }).failed).toBe(true);
  });

  it("refuses what is not a reconcile state, or one read past its head", () => {
    const s = initialState();
    s.readSeq = 4;
    expect(isReconcileState(decodeState(encodeState(s)), { seq: 4 } as never)).toBe(true);
    expect(isReconcileState(decodeState(encodeState(s)), { seq: 3 } as never)).toBe(false);
    expect(isReconcileState(decodeState(encodeState({ jobs: new Map() })), { seq: 9 } as never)).toBe(false);
  });
});
