import fc from "fast-check";
import type { DomainEvent, Stored } from "@oneshot/proto";
import { decodeState, encodeState } from "@oneshot/runtime";
import { describe, expect, it } from "vitest";
import { fold } from "../core/evolve.js";
import { historyOf } from "../core/history.js";
import { place } from "../core/place.js";
import { initialState, type SchedulerState } from "../core/state.js";
import {
  hostEvent,
  jobEvent,
  lost,
  queued,
  registered,
  started,
  vmBootFailed,
  vmBootRequested,
  vmBooted,
  vmDestroyed,
  vmExited,
  type Ref,
} from "../testing/fixtures.js";

// Snapshot + tail must be the full replay, exactly: the state a scheduler starts from a
// snapshot with is the state it would have folded from the whole log, and it decides the same.
// Random logs: jobs arrive (ours, local, and hosted ones we ignore), the scheduler decides on
// its own state, VMs boot, fail, run their own or another job, end; hosts are cordoned and lost;
// deliveries come twice and out of order. Each log is cut at a random point.

const action = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant("queue" as const),
      org: fc.constantFrom("a", "b"),
      local: fc.boolean(),
      vcpus: fc.integer({ min: 1, max: 6 }),
      gpu: fc.boolean(),
    }),
  },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("decide" as const), minutes: fc.integer({ min: 0, max: 20 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constantFrom("boot" as const, "start" as const, "start-other" as const, "end" as const, "boot-fail" as const),
      pick: fc.nat(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constantFrom("cancel" as const, "complete" as const, "early-start" as const, "ignore" as const), pick: fc.nat() }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constantFrom("cordon" as const, "uncordon" as const, "lose" as const, "register" as const), host: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("repeat" as const), pick: fc.nat() }) },
  // Days pass and the stream's sequence jumps (other writers, messages no one reads): ended jobs are forgotten.
  { weight: 1, arbitrary: fc.record({ k: fc.constant("later" as const), days: fc.integer({ min: 0, max: 5 }), skip: fc.integer({ min: 0, max: 1500 }) }) },
);
const logArb = fc.record({
  hosts: fc.integer({ min: 1, max: 4 }),
  actions: fc.array(action, { minLength: 10, maxLength: 120 }),
  cut: fc.double({ min: 0, max: 1, noNaN: true }),
});

function generate(w: { hosts: number; actions: { k: string; [x: string]: unknown }[] }): Stored<DomainEvent>[] {
  const log: Stored<DomainEvent>[] = [];
  let state: SchedulerState = initialState();
  let t = Date.parse("2026-01-01T00:00:00.000Z");
  let seq = 1;
  const append = (...events: DomainEvent[]) => {
    const h = historyOf(events, seq, new Date(t).toISOString());
    seq += h.length;
    log.push(...h);
    state = fold(state, h);
  };
  const hostIds = Array.from({ length: w.hosts }, (_, i) => `h${i}`);
  append(...hostIds.map((h, i) => registered(h, { vcpus: 8, labels: i % 2 ? ["gpu"] : [] })));
  const vms = () => [...state.allocations.values()].map((a): Ref => ({ hostId: a.hostId, vmId: a.vmId, jobId: a.jobId }));
  const pick = <T>(xs: T[], n: unknown) => (xs.length ? xs[(n as number) % xs.length] : undefined);
  let n = 0;
  for (const a of w.actions) {
    switch (a.k) {
      case "queue":
        append(
          queued(`j${n++}`, {
            org: a.org as string,
            vcpus: a.vcpus as number,
            provider: a.local ? "local" : "github",
            labels: a.gpu ? ["self-hosted", "oneshot", "gpu"] : ["self-hosted", "oneshot"],
          }),
        );
        break;
      case "decide":
        t += (a.minutes as number) * 60_000;
        append(...place(state, new Date(t).toISOString()).map((d) => d.event));
        break;
      case "boot": {
        const vm = pick(vms(), a.pick);
        if (vm) append(vmBootRequested(vm), vmBooted(vm));
        break;
      }
      case "start": {
        const vm = pick(vms(), a.pick);
        if (vm) append(started(vm.jobId, vm));
        break;
      }
      // Another job's runner takes this VM (the runner model: a runner is not bound to its job).
      case "start-other": {
        const vm = pick(vms(), a.pick);
        const j = pick([...state.jobs.keys()], a.pick);
        if (vm && j) append(started(j, vm, (a.pick as number) % 2 === 0));
        break;
      }
      case "end": {
        const vm = pick(vms(), a.pick);
        if (vm) append(jobEvent("JobCompleted", vm.jobId), vmExited(vm), vmDestroyed(vm));
        break;
      }
      case "boot-fail": {
        const vm = pick(vms(), a.pick);
        if (vm) append(vmBootFailed(vm), vmDestroyed(vm));
        break;
      }
      case "cancel": {
        const j = pick([...state.jobs.keys()], a.pick);
        if (j) append(jobEvent("JobCancelled", j));
        break;
      }
      case "complete": {
        const j = pick([...state.jobs.keys()], a.pick);
        if (j) append(jobEvent("JobCompleted", j));
        break;
      }
      // The provider says a job started before its JobQueued was read.
      case "early-start":
        append({ type: "JobStarted", data: { jobId: `j${n + 1}`, reportedBy: "webhook" } });
        break;
      case "ignore": {
        const q = queued(`hosted-${n++}`);
        append({ type: "JobIgnored", data: { jobId: q.data.jobId, source: q.data.source, reason: "not ours" } });
        break;
      }
      case "cordon":
        append(hostEvent("HostCordoned", pick(hostIds, a.host)!));
        break;
      case "uncordon":
        append(hostEvent("HostUncordoned", pick(hostIds, a.host)!));
        break;
      case "lose":
        append(lost(pick(hostIds, a.host)!));
        break;
      case "register":
        append(registered(pick(hostIds, a.host)!, { vcpus: 8 }));
        break;
      // A delivery stored twice (after the duplicate window): the same event again.
      case "repeat": {
        const e = pick(log, a.pick);
        if (e) append({ type: e.type, data: e.data } as DomainEvent);
        break;
      }
      case "later":
        t += (a.days as number) * 86_400_000;
        seq += a.skip as number;
        break;
    }
  }
  return log;
}

const NOW = "2026-01-02T00:00:00.000Z";

/** The property, for a given round trip of the state through a snapshot. */
const resumesExactly = (roundTrip: (s: SchedulerState) => SchedulerState) =>
  fc.property(logArb, (w) => {
    const log = generate(w);
    const cut = Math.floor(w.cut * log.length);
    const full = fold(initialState(), log);
    const resumed = fold(roundTrip(fold(initialState(), log.slice(0, cut))), log.slice(cut));
    // Order-sensitive (toEqual is not, for Maps and Sets): what a fold iterates must come back in its order.
    expect(ordered(resumed)).toEqual(ordered(full));
    expect(Buffer.from(encodeState(resumed)).equals(Buffer.from(encodeState(full)))).toBe(true);
    expect(place(resumed, NOW)).toEqual(place(full, NOW));
  });

/** Maps and Sets as arrays of their entries, in iteration order. */
const ordered = (s: SchedulerState): unknown =>
  JSON.parse(JSON.stringify(s, (_k, v: unknown) => (v instanceof Map ? { map: [...v] } : v instanceof Set ? { set: [...v] } : v)));

describe("scheduler snapshots", () => {
  it("snapshot + tail gives exactly the state and the decisions of a full replay (random logs, random cut)", () => {
    fc.assert(
      resumesExactly((s) => decodeState<SchedulerState>(encodeState(s))),
      { numRuns: 300 },
    );
  }, 60_000); // 300 random logs: 4 s alone, past the 5 s default on a loaded machine

  it("would catch a snapshot that loses the pending jobs' order (the property can fail)", () => {
    const swapsFirstTwo = (s: SchedulerState) => {
      const back = decodeState<SchedulerState>(encodeState(s));
      const [a, b, ...rest] = [...back.pending];
      if (b !== undefined) back.pending = new Set([b, a!, ...rest]);
      return back;
    };
    // Seeded: the check itself must not be flaky (most logs have two pending jobs at some cut).
    expect(fc.check(resumesExactly(swapsFirstTwo), { numRuns: 300, seed: 7 }).failed).toBe(true);
  }, 60_000);

  it("keeps the iteration order of Maps and Sets (first come, first served depends on it)", () => {
    const s = initialState();
    s.pending.add("z").add("a").add("m");
    s.waiting.set("k2", 5).set("k1", 9);
    const back = decodeState<SchedulerState>(encodeState(s));
    expect([...back.pending]).toEqual(["z", "a", "m"]);
    expect([...back.waiting.keys()]).toEqual(["k2", "k1"]);
  });
});
