import fc from "fast-check";
import type { Arch, DomainEvent, Resources, Stored } from "@oneshot/proto";
import { describe, expect, it } from "vitest";
import {
  NOW,
  fenced,
  hostEvent,
  leaseExpired,
  lost,
  placementExpired,
  queued,
  registered,
  started,
  vmBootFailed,
  vmBootRequested,
  vmDestroyed,
  vmExited,
  vmVanished,
} from "../testing/fixtures.js";
import { evolve, fold } from "./evolve.js";
import { hasLabels, requiredLabels } from "./host-labels.js";
import { historyOf } from "./history.js";
import { place } from "./place.js";
import { initialState, type SchedulerState } from "./state.js";

// The world does random things (jobs arrive, VMs end or fail to boot, operators cordon and
// drain, hosts get lost, fence and come back, placements expire) and now and then the
// scheduler decides; its decisions are appended as one writer would. An independent checker
// reads the resulting log (never the scheduler's state) and holds the invariants at every
// event. A lost host's VMs count as live until it fenced (HostFenced), its lease ran out
// (HostLeaseExpired) or the VM itself is reported gone: a job placed again before that could
// run twice (docs/fencing.md), and "placed while already placed" catches it.

const archs: Arch[] = ["amd64", "arm64"];
const hostArb = fc.record({
  arch: fc.constantFrom(...archs),
  vcpus: fc.integer({ min: 1, max: 16 }),
  memMiB: fc.integer({ min: 512, max: 32768 }),
  diskGiB: fc.integer({ min: 10, max: 200 }),
  labels: fc.subarray(["gpu", "ssd"]),
});
const jobArb = fc.record({
  arch: fc.constantFrom(...archs),
  vcpus: fc.integer({ min: 1, max: 16 }),
  memMiB: fc.integer({ min: 256, max: 32768 }),
  diskGiB: fc.integer({ min: 1, max: 200 }),
  org: fc.constantFrom("a", "b", "c"),
  local: fc.boolean(),
  labels: fc.oneof({ weight: 4, arbitrary: fc.constant([] as string[]) }, { weight: 1, arbitrary: fc.constant(["gpu"] as string[]) }),
});
const actionArb = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("queue" as const), job: jobArb }) },
  { weight: 4, arbitrary: fc.constant({ kind: "decide" as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("finish" as const), pick: fc.nat(), exit: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("boot-fail" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("cancel" as const), pick: fc.nat() }) },
  // The janitor finds a VM vanished under its job (no VmDestroyed ever comes); the scheduler decides what follows.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("vanish" as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constantFrom("cordon" as const, "uncordon" as const, "drain" as const, "lose" as const, "register" as const),
      host: fc.nat(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom("fence" as const, "self-fence" as const, "lease-expire" as const), host: fc.nat() }) },
  // hostd claims a placement (VmBootRequested), or the janitor expires one nobody claimed.
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom("claim" as const, "expire" as const), pick: fc.nat() }) },
);
const worldArb = fc.record({ hosts: fc.array(hostArb, { minLength: 1, maxLength: 6 }), actions: fc.array(actionArb, { minLength: 20, maxLength: 80 }) });
type World = typeof worldArb extends fc.Arbitrary<infer W> ? W : never;

/** Reads the log and fails on the first event that breaks an invariant. */
class Checker {
  hosts = new Map<
    string,
    { arch: Arch; cap: Resources; labels: string[]; placeable: boolean; cordoned: boolean; draining: boolean; lostUnfenced: boolean; used: Resources }
  >();
  live = new Map<string, { hostId: string; vmId: string; jobId: string; res: Resources; claim: string; attempt: number; claimed: boolean }>();
  jobs = new Map<
    string,
    {
      arch: Arch;
      labels: string[];
      spec: Resources;
      ended: boolean;
      placedAttempts: Set<number>;
      liveKey?: string;
      unschedulable?: string;
      everPlaced: boolean;
      bootFailures: number;
      failed: boolean;
    }
  >();

  see(e: Stored<DomainEvent>): void {
    switch (e.type) {
      case "HostRegistered": {
        // Registered again without a fence: a restarted hostd reported what it destroyed; the rest stays live.
        const prev = this.hosts.get(e.data.hostId);
        const cordoned = prev?.cordoned ?? false,
          draining = prev?.draining ?? false;
        this.hosts.set(e.data.hostId, {
          arch: e.data.arch,
          cap: e.data.capacity,
          labels: e.data.labels,
          cordoned,
          draining,
          placeable: !cordoned && !draining,
          lostUnfenced: false,
          used: prev?.used ?? { vcpus: 0, memMiB: 0, diskGiB: 0 },
        });
        break;
      }
      case "HostCordoned":
        this.flag(e.data.hostId, { cordoned: true });
        break;
      case "HostDrained":
        this.flag(e.data.hostId, { draining: true });
        break;
      case "HostUncordoned":
        this.flag(e.data.hostId, { cordoned: false, draining: false });
        break;
      case "HostLost": {
        const h = this.hosts.get(e.data.hostId)!;
        h.placeable = false;
        h.lostUnfenced = true;
        break;
      }
      case "HostFenced":
      case "HostLeaseExpired": {
        // Only the fence of a lost host ends its VMs here; a self-fence nobody asked for is told by the VMs' own events.
        const h = this.hosts.get(e.data.hostId)!;
        if (!h.lostUnfenced) break;
        h.lostUnfenced = false;
        for (const [k, a] of this.live) if (a.hostId === e.data.hostId) this.free(k);
        break;
      }
      case "VmBootRequested": {
        const a = this.live.get(`${e.data.hostId}/${e.data.vmId}`);
        if (a) a.claimed = true;
        break;
      }
      case "PlacementExpired": {
        const key = `${e.data.hostId}/${e.data.vmId}`;
        const a = this.live.get(key);
        if (!a || a.claimed || a.attempt !== e.data.attempt) break;
        this.jobs.get(a.claim)!.bootFailures++;
        this.free(key);
        break;
      }
      case "JobQueued":
        if (!this.jobs.has(e.data.jobId)) {
          this.jobs.set(e.data.jobId, {
            arch: e.data.spec.arch,
            labels: requiredLabels(e.data.source.labels),
            spec: e.data.spec,
            ended: false,
            placedAttempts: new Set(),
            everPlaced: false,
            bootFailures: 0,
            failed: false,
          });
        }
        break;
      case "JobScheduled": {
        const { jobId, hostId, vmId, spec, attempt } = e.data;
        const job = this.jobs.get(jobId)!;
        const host = this.hosts.get(hostId);
        expect(host, `${jobId} placed on unknown host ${hostId}`).toBeDefined();
        expect(host!.placeable, `${jobId} placed on ${hostId} while cordoned/draining/lost`).toBe(true);
        expect(host!.arch, `${jobId} (${job.arch}) placed on ${host!.arch} host`).toBe(job.arch);
        expect(spec.arch).toBe(job.arch);
        expect(hasLabels([...host!.labels].sort(), job.labels)).toBe(true);
        expect(job.ended, `${jobId} placed after it ended`).toBe(false);
        expect(job.liveKey, `${jobId} placed while already placed`).toBeUndefined();
        expect(job.placedAttempts.has(attempt), `${jobId} attempt ${attempt} placed twice`).toBe(false);
        const used = { vcpus: host!.used.vcpus + spec.vcpus, memMiB: host!.used.memMiB + spec.memMiB, diskGiB: host!.used.diskGiB + spec.diskGiB };
        expect(used.vcpus <= host!.cap.vcpus && used.memMiB <= host!.cap.memMiB && used.diskGiB <= host!.cap.diskGiB, `${hostId} over capacity`).toBe(true);
        host!.used = used;
        const key = `${hostId}/${vmId}`;
        this.live.set(key, { hostId, vmId, jobId, res: spec, claim: jobId, attempt, claimed: false });
        job.placedAttempts.add(attempt);
        job.liveKey = key;
        job.everPlaced = true;
        break;
      }
      case "JobRebound":
      case "JobStarted": {
        const a = e.data.hostId !== undefined && e.data.vmId !== undefined ? this.live.get(`${e.data.hostId}/${e.data.vmId}`) : undefined;
        if (a) a.claim = e.data.jobId;
        break;
      }
      case "VmBootFailed": {
        const a = this.live.get(`${e.data.hostId}/${e.data.vmId}`);
        if (a) this.jobs.get(a.claim)!.bootFailures++;
        break;
      }
      case "VmDestroyed":
        this.free(`${e.data.hostId}/${e.data.vmId}`);
        break;
      case "VmVanished": {
        // A VM gone under its claim without running anything counts toward maxAttempts too.
        const a = this.live.get(`${e.data.hostId}/${e.data.vmId}`);
        if (a) this.jobs.get(a.claim)!.bootFailures++;
        this.free(`${e.data.hostId}/${e.data.vmId}`);
        break;
      }
      // Only an old (v1, janitor's) requeue ends the VM it names; the scheduler's keeps it until VmDestroyed.
      case "JobRequeued":
        if (e.data.releasesVm) this.free(`${e.data.fromHostId}/${e.data.vmId}`);
        break;
      case "JobUnschedulable":
        this.jobs.get(e.data.jobId)!.unschedulable = e.data.reason;
        this.end(e.data.jobId);
        break;
      case "JobFailed":
        this.jobs.get(e.data.jobId)!.failed = true;
        this.end(e.data.jobId);
        break;
      case "JobCompleted":
      case "JobCancelled":
        this.end(e.data.jobId);
        break;
      default:
        break;
    }
  }
  private flag(hostId: string, f: { cordoned?: boolean; draining?: boolean }) {
    const h = this.hosts.get(hostId)!;
    Object.assign(h, f);
    h.placeable = !h.cordoned && !h.draining;
  }
  private free(key: string) {
    const a = this.live.get(key);
    if (!a) return;
    this.live.delete(key);
    const h = this.hosts.get(a.hostId)!;
    h.used = { vcpus: h.used.vcpus - a.res.vcpus, memMiB: h.used.memMiB - a.res.memMiB, diskGiB: h.used.diskGiB - a.res.diskGiB };
    const job = this.jobs.get(a.jobId);
    if (job?.liveKey === key) delete job.liveKey;
  }
  private end(jobId: string) {
    const j = this.jobs.get(jobId);
    if (j) j.ended = true;
  }
  /** Could some registered host hold the job when empty? */
  fitsSomeHost(jobId: string): boolean {
    const j = this.jobs.get(jobId)!;
    return [...this.hosts.values()].some(
      (h) =>
        h.arch === j.arch &&
        hasLabels([...h.labels].sort(), j.labels) &&
        j.spec.vcpus <= h.cap.vcpus &&
        j.spec.memMiB <= h.cap.memMiB &&
        j.spec.diskGiB <= h.cap.diskGiB,
    );
  }
}

class Sim {
  log: Stored<DomainEvent>[] = [];
  state: SchedulerState = initialState();
  check = new Checker();
  append(...events: DomainEvent[]) {
    for (const e of historyOf(events, this.log.length + 1)) {
      this.log.push(e);
      this.check.see(e);
      this.state = evolve(this.state, e);
      // The scheduler's own view of what is reserved matches the log's, after every event.
      for (const [hostId, h] of this.check.hosts) expect(this.state.hosts.get(hostId)?.used, `used on ${hostId} after ${e.type}`).toEqual(h.used);
    }
  }
  decide() {
    this.append(...place(this.state, NOW).map((d) => d.event));
  }
  liveVm(pick: number) {
    const all = [...this.check.live.values()];
    return all.length ? all[pick % all.length] : undefined;
  }
  /** The VM runs to its end: a provider runner first takes the job that claims it (if any). */
  runToEnd(vm: { hostId: string; vmId: string; jobId: string }, exit: number) {
    const claim = this.state.allocations.get(`${vm.hostId}/${vm.vmId}`)?.claim;
    const job = claim !== undefined ? this.state.jobs.get(claim) : undefined;
    if (job && !job.local && job.phase === "placed") this.append(started(job.jobId, vm));
    this.append(vmExited(vm, exit), vmDestroyed(vm));
  }
}

function run(w: World): Sim {
  const sim = new Sim();
  const hostIds = w.hosts.map((_, i) => `h${i}`);
  sim.append(...w.hosts.map((h, i) => registered(hostIds[i]!, h)));
  let n = 0;
  for (const a of w.actions) {
    switch (a.kind) {
      case "queue": {
        const { local, ...o } = a.job;
        sim.append(queued(`j${n++}`, { ...o, provider: local ? "local" : "github" }));
        break;
      }
      case "decide":
        sim.decide();
        break;
      case "finish": {
        const vm = sim.liveVm(a.pick);
        if (vm) sim.runToEnd(vm, a.exit);
        break;
      }
      case "boot-fail": {
        const vm = sim.liveVm(a.pick);
        if (vm) sim.append(vmBootFailed(vm), vmDestroyed(vm));
        break;
      }
      case "vanish": {
        const vm = sim.liveVm(a.pick);
        if (vm) sim.append(vmVanished(vm));
        break;
      }
      case "cancel": {
        const open = [...sim.check.jobs.entries()].filter(([, j]) => !j.ended);
        const pick = open[a.pick % Math.max(1, open.length)];
        if (pick) sim.append({ type: "JobCancelled", data: { jobId: pick[0], reason: "test" } });
        break;
      }
      case "cordon":
        sim.append(hostEvent("HostCordoned", hostIds[a.host % hostIds.length]!));
        break;
      case "uncordon":
        sim.append(hostEvent("HostUncordoned", hostIds[a.host % hostIds.length]!));
        break;
      case "drain":
        sim.append(hostEvent("HostDrained", hostIds[a.host % hostIds.length]!));
        break;
      case "lose":
        sim.append(lost(hostIds[a.host % hostIds.length]!));
        break;
      case "fence":
        sim.append(fenced(hostIds[a.host % hostIds.length]!));
        break;
      case "self-fence":
        sim.append(fenced(hostIds[a.host % hostIds.length]!, [], "lease-expired"));
        break;
      case "lease-expire":
        sim.append(leaseExpired(hostIds[a.host % hostIds.length]!));
        break;
      case "claim":
      case "expire": {
        const vm = sim.liveVm(a.pick);
        if (!vm) break;
        const attempt = sim.check.live.get(`${vm.hostId}/${vm.vmId}`)!.attempt;
        sim.append(a.kind === "claim" ? vmBootRequested(vm) : placementExpired(vm, attempt));
        break;
      }
      case "register": {
        const i = a.host % hostIds.length;
        sim.append(registered(hostIds[i]!, w.hosts[i]));
        break;
      }
    }
  }
  return sim;
}

/** Operators undo everything, every VM runs to its end, and the scheduler keeps deciding. */
function settle(sim: Sim, w: World): void {
  w.hosts.forEach((h, i) => sim.append(registered(`h${i}`, h), hostEvent("HostUncordoned", `h${i}`)));
  for (let round = 0; round < 500; round++) {
    sim.decide();
    const vms = [...sim.check.live.values()];
    if (vms.length === 0 && sim.state.pending.size === 0 && sim.state.released.size === 0) return;
    for (const vm of vms) sim.runToEnd(vm, 0);
  }
  throw new Error("the scheduler did not settle in 500 rounds");
}

describe("invariants over random histories (fast-check)", () => {
  it("never exceeds a host's capacity, never the wrong arch or labels, never twice, never on a cordoned/draining/lost host", () => {
    fc.assert(
      fc.property(worldArb, (w) => void settle(run(w), w)),
      { numRuns: 200 },
    );
  });

  it("every job that fits an empty host is placed eventually; only jobs no host could hold are unschedulable", () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const sim = run(w);
        settle(sim, w); // ends with nothing pending, nothing owed, no VM running
        for (const [jobId, j] of sim.check.jobs) {
          if (j.unschedulable) expect(sim.check.fitsSomeHost(jobId), `${jobId} unschedulable but fits: ${j.unschedulable}`).toBe(false);
          if (!j.unschedulable && sim.check.fitsSomeHost(jobId) && !j.everPlaced) {
            // Only a job cancelled before its turn may end without a placement.
            expect(
              sim.log.some((e) => e.type === "JobCancelled" && e.data.jobId === jobId),
              `${jobId} fits but was never placed`,
            ).toBe(true);
          }
          if (j.failed) expect(j.bootFailures).toBeGreaterThanOrEqual(3);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("is deterministic and read-only: the same state gives the same decisions and is not changed by deciding", () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const sim = run(w);
        const before = structuredClone(sim.state);
        const first = place(sim.state, NOW);
        expect(place(sim.state, NOW)).toEqual(first);
        expect(sim.state).toEqual(before);
        // A replay from scratch (another scheduler, a restart, `oneshot state --at`) decides the same.
        expect(place(fold(initialState(), sim.log), NOW)).toEqual(first);
      }),
      { numRuns: 100 },
    );
  });
});

describe("host labels", () => {
  it("ignores runs-on boilerplate and size labels, lowercases the rest", () => {
    expect(requiredLabels(["self-hosted", "Linux", "X64", "oneshot", "oneshot-arm64-2cpu-4gb", "oneshot-4cpu-8gb", "GPU", "gpu"])).toEqual(["gpu"]);
  });
  it("a host matches when it has every wanted label", () => {
    expect(hasLabels(["a", "gpu", "ssd"], ["gpu", "ssd"])).toBe(true);
    expect(hasLabels(["a", "ssd"], ["gpu"])).toBe(false);
    expect(hasLabels([], [])).toBe(true);
  });
});
