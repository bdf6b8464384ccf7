import type { DomainEvent } from "@oneshot/proto";
import { describe, expect, it } from "vitest";
import { historyOf } from "../core/history.js";
import { given, queued, registered, started, vmBootFailed, vmBooted, type Ref } from "../testing/fixtures.js";
import { PickupTracker, hostUtilisation, queueDepth, queueLabel } from "./fleet-metrics.js";

describe("queue depth per org and label", () => {
  it("counts waiting jobs by org and their oneshot label; placed jobs leave the queue", () => {
    const s = given(
      registered("h1", { vcpus: 2 }),
      queued("a1", { org: "acme", labels: ["oneshot-2cpu-4gb", "self-hosted"], vcpus: 2 }),
      queued("a2", { org: "acme", labels: ["oneshot-2cpu-4gb", "self-hosted"], vcpus: 2 }),
      queued("a3", { org: "acme", labels: ["oneshot-arm64-2cpu-4gb"], arch: "arm64" }),
      queued("b1", { org: "bravo", labels: ["oneshot-2cpu-4gb"], vcpus: 2 }),
    );
    const depth = (sc: typeof s) => Object.fromEntries(queueDepth(sc.state).map((r) => [`${r.org} ${r.label}`, r.count]));
    expect(depth(s)).toEqual({ "acme oneshot-2cpu-4gb": 2, "acme oneshot-arm64-2cpu-4gb": 1, "bravo oneshot-2cpu-4gb": 1 });
    // h1 fits one 2-vCPU job, which leaves the queue; no host can ever run the arm64 one (JobUnschedulable).
    const after = s.decided();
    expect(Object.values(depth(after)).reduce((a, b) => a + b, 0)).toBe(2);
    expect(depth(after)["acme oneshot-arm64-2cpu-4gb"]).toBeUndefined();
  });

  it("a job's label is its size label, else all its labels, else - (a local job)", () => {
    expect(queueLabel(["oneshot-4cpu-8gb", "self-hosted"])).toBe("oneshot-4cpu-8gb");
    expect(queueLabel(["gpu", "linux"])).toBe("gpu,linux");
    expect(queueLabel([])).toBe("-");
  });
});

describe("host utilisation", () => {
  it("capacity and reservations per host and resource, from the placements", () => {
    const s = given(registered("h1", { vcpus: 8, memMiB: 16384, diskGiB: 100 }), queued("j1", { vcpus: 2, memMiB: 4096, diskGiB: 20 })).decided();
    expect(hostUtilisation(s.state)).toEqual([
      { hostId: "h1", resource: "vcpus", capacity: 8, reserved: 2 },
      { hostId: "h1", resource: "mem_mib", capacity: 16384, reserved: 4096 },
      { hostId: "h1", resource: "disk_gib", capacity: 100, reserved: 20 },
    ]);
  });
});

describe("pickup latency", () => {
  const at = (iso: string, ...events: DomainEvent[]) => historyOf(events, 1, iso);
  const on: Ref = { jobId: "j1", hostId: "h1", vmId: "vm-1" };

  it("a provider job: from its first JobQueued to JobStarted; a second start or a redelivered JobQueued counts nothing", () => {
    const t = new PickupTracker();
    expect(t.see(at("2026-01-01T00:00:00.000Z", queued("j1"))[0]!)).toBeUndefined();
    expect(t.see(at("2026-01-01T00:00:05.000Z", queued("j1"))[0]!)).toBeUndefined();
    expect(t.see(at("2026-01-01T00:00:12.500Z", started("j1", on))[0]!)).toEqual({ kind: "runner", seconds: 12.5 });
    expect(t.see(at("2026-01-01T00:00:20.000Z", started("j1", on))[0]!)).toBeUndefined();
    expect(t.size).toBe(0);
  });

  it("a local job: from JobQueued to its VM's VmBooted", () => {
    const t = new PickupTracker();
    t.see(at("2026-01-01T00:00:00.000Z", queued("j1", { provider: "local" }))[0]!);
    const scheduled = {
      type: "JobScheduled",
      data: { ...on, spec: { arch: "amd64", vcpus: 1, memMiB: 1024, diskGiB: 10, image: "minimal", timeoutSec: 600 }, attempt: 0, script: "true" },
    } as DomainEvent;
    t.see(at("2026-01-01T00:00:00.010Z", scheduled)[0]!);
    expect(t.see(at("2026-01-01T00:00:04.010Z", vmBooted(on))[0]!)).toEqual({ kind: "local", seconds: 4.01 });
  });

  it("jobs it never saw queued are not measured; clock skew never makes a negative latency; ended jobs are forgotten", () => {
    const t = new PickupTracker();
    expect(t.see(at("2026-01-01T00:00:00.000Z", started("old", on))[0]!)).toBeUndefined();
    t.see(at("2026-01-01T00:00:10.000Z", queued("j1"))[0]!);
    expect(t.see(at("2026-01-01T00:00:09.000Z", started("j1", on))[0]!)).toEqual({ kind: "runner", seconds: 0 });
    t.see(at("2026-01-01T00:00:10.000Z", queued("j2"))[0]!);
    t.see(at("2026-01-01T00:00:11.000Z", { type: "JobCancelled", data: { jobId: "j2", reason: "x" } } as DomainEvent)[0]!);
    expect(t.size).toBe(0);
    expect(t.see(at("2026-01-01T00:00:12.000Z", vmBootFailed({ ...on, jobId: "j2" }))[0]!)).toBeUndefined();
  });
});
