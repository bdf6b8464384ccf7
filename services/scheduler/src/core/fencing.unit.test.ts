import fc from "fast-check";
import type { DomainEvent, Stored } from "@oneshot/proto";
import { describe, expect, it } from "vitest";
import { NOW, fenced, leaseExpired, lost, queued, registered, started, vmDestroyed, vmExited } from "../testing/fixtures.js";
import { evolve } from "./evolve.js";
import { historyOf } from "./history.js";
import { place } from "./place.js";
import { initialState } from "./state.js";

// docs/fencing.md, as a property: hosts get lost while their VMs may still run; they fence
// (or their lease runs out) or come back; VMs end. An independent reader of the log says a
// VM is alive from its JobScheduled until its VmDestroyed, or its host's fence after a
// HostLost (HostFenced, HostLeaseExpired). No job may be placed again while a VM placed for
// it is alive: that is a job running twice.

const actionArb = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("queue" as const), local: fc.boolean() }) },
  { weight: 4, arbitrary: fc.constant({ kind: "decide" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constantFrom("lose" as const, "fence" as const, "self-fence" as const, "lease-expire" as const, "register" as const),
      host: fc.nat(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom("start" as const, "end" as const), pick: fc.nat() }) },
);
type Action = typeof actionArb extends fc.Arbitrary<infer A> ? A : never;
const worldArb = fc.record({ hosts: fc.integer({ min: 2, max: 3 }), actions: fc.array(actionArb, { minLength: 10, maxLength: 60 }) });

interface Vm {
  hostId: string;
  vmId: string;
  jobId: string;
}

class Reader {
  readonly alive = new Map<string, Vm>();
  private readonly lostUnfenced = new Set<string>();
  readonly ended = new Set<string>();
  see(e: Stored<DomainEvent>): void {
    switch (e.type) {
      case "HostLost":
        this.lostUnfenced.add(e.data.hostId);
        break;
      case "HostRegistered":
        this.lostUnfenced.delete(e.data.hostId);
        break;
      case "HostFenced":
      case "HostLeaseExpired":
        if (!this.lostUnfenced.delete(e.data.hostId)) break;
        for (const [k, v] of this.alive) if (v.hostId === e.data.hostId) this.alive.delete(k);
        break;
      case "JobScheduled": {
        const { jobId, hostId, vmId } = e.data;
        const twice = [...this.alive.values()].find((v) => v.jobId === jobId);
        expect(twice, `seq ${e.seq}: ${jobId} placed on ${hostId} while its VM ${twice?.vmId} on ${twice?.hostId} may still run`).toBeUndefined();
        this.alive.set(`${hostId}/${vmId}`, { hostId, vmId, jobId });
        break;
      }
      case "VmDestroyed":
        this.alive.delete(`${e.data.hostId}/${e.data.vmId}`);
        break;
      case "JobCompleted":
      case "JobFailed":
      case "JobCancelled":
        this.ended.add(e.data.jobId);
        break;
      default:
        break;
    }
  }
}

function simulate(w: { hosts: number; actions: Action[] }): { log: Stored<DomainEvent>[] } {
  const log: Stored<DomainEvent>[] = [];
  let state = initialState();
  const reader = new Reader();
  const append = (...events: DomainEvent[]) => {
    for (const e of historyOf(events, log.length + 1, NOW)) {
      log.push(e);
      reader.see(e);
      state = evolve(state, e);
    }
  };
  const hostIds = Array.from({ length: w.hosts }, (_, i) => `h${i}`);
  append(...hostIds.map((h) => registered(h, { vcpus: 2 })));
  let n = 0;
  const pickVm = (i: number): Vm | undefined => {
    const all = [...reader.alive.values()];
    return all.length ? all[i % all.length] : undefined;
  };
  for (const a of w.actions) {
    const host = hostIds[("host" in a ? a.host : 0) % hostIds.length]!;
    switch (a.kind) {
      case "queue":
        append(queued(`j${n++}`, a.local ? { provider: "local", org: "local" } : {}));
        break;
      case "decide":
        append(...place(state, NOW).map((d) => d.event));
        break;
      case "lose":
        append(lost(host));
        break;
      // hostd's fence: every VM it had is killed and destroyed, then HostFenced.
      case "fence":
      case "self-fence": {
        for (const v of [...reader.alive.values()].filter((x) => x.hostId === host)) append(vmExited(v, null, "killed"), vmDestroyed(v));
        append(fenced(host, [], a.kind === "fence" ? "host-lost" : "lease-expired"));
        break;
      }
      // The janitor's lease expiry stands for: the host stopped its VMs, without a word.
      case "lease-expire":
        append(leaseExpired(host));
        break;
      case "register":
        append(registered(host, { vcpus: 2 }));
        break;
      case "start": {
        const v = pickVm(a.pick);
        const job = v && state.jobs.get(v.jobId);
        if (v && job && !job.local && job.phase === "placed" && job.vmId === v.vmId) append(started(v.jobId, v));
        break;
      }
      case "end": {
        const v = pickVm(a.pick);
        if (v) append(vmExited(v, 0), vmDestroyed(v));
        break;
      }
    }
  }
  return { log };
}

describe("fencing over random histories (fast-check)", () => {
  it("never places a job again while a VM placed for it may still run on a lost host", () => {
    fc.assert(
      fc.property(worldArb, (w) => void simulate(w)),
      { numRuns: 300 },
    );
  });

  it("still requeues: once a lost host fenced, its unstarted and local jobs are placed elsewhere", () => {
    const log = simulate({
      hosts: 2,
      actions: [
        { kind: "queue", local: true },
        { kind: "queue", local: false },
        { kind: "decide" },
        { kind: "lose", host: 0 },
        { kind: "decide" },
        { kind: "fence", host: 0 },
        { kind: "decide" },
        { kind: "decide" },
      ],
    }).log;
    const placedOn = (jobId: string) =>
      log.filter((e) => e.type === "JobScheduled" && e.data.jobId === jobId).map((e) => (e.data as { hostId: string }).hostId);
    expect(placedOn("j0")).toEqual(["h0", "h1"]);
    expect(placedOn("j1")).toEqual(["h0", "h1"]);
    // Nothing was requeued between HostLost and the fence's first VmDestroyed.
    const lostAt = log.find((e) => e.type === "HostLost")!.seq;
    const firstGone = log.find((e) => e.type === "VmDestroyed" && e.seq > lostAt)!.seq;
    expect(log.filter((e) => e.type === "JobRequeued" && e.seq > lostAt && e.seq < firstGone)).toEqual([]);
    expect(log.filter((e) => e.type === "JobRequeued").length).toBe(2);
  });
});
