import { describe, expect, it } from "vitest";
import type { DomainEvent, Stored } from "@oneshot/proto";
import { applyToFleet, bar, emptyFleet } from "./fleet.js";
import { parseSince } from "./event-line.js";

let seq = 0;
const at = (e: DomainEvent): Stored<DomainEvent> =>
  ({
    ...e,
    seq: ++seq,
    subject: "x",
    id: `e${seq}`,
    version: 1,
    occurredAt: "2026-11-28T10:00:00.000Z",
    correlationId: "c",
    causationId: null,
  }) as Stored<DomainEvent>;
const spec = { arch: "amd64", vcpus: 2, memMiB: 1024, diskGiB: 1, image: "minimal", timeoutSec: 60 } as const;
const host = (hostId: string): DomainEvent => ({
  type: "HostRegistered",
  data: {
    hostId,
    arch: "amd64",
    capacity: { vcpus: 4, memMiB: 4096, diskGiB: 10 },
    labels: [],
    vmm: "qemu",
    accel: "tcg",
    emulated: false,
    images: [],
    publicKey: "k",
    version: "0",
  },
});
const queued = (jobId: string): DomainEvent => ({
  type: "JobQueued",
  data: { jobId, spec, source: { provider: "local", repo: "local", org: "local", providerJobId: jobId, labels: [] } },
});
const ref = { hostId: "h1", vmId: "vm1", jobId: "j1" };

describe("fleet read-model", () => {
  it("follows a job through its life and frees capacity only at VmDestroyed", () => {
    const f = emptyFleet();
    for (const e of [host("h1"), queued("j1"), { type: "JobScheduled", data: { jobId: "j1", hostId: "h1", vmId: "vm1", spec, attempt: 0 } }] as DomainEvent[])
      applyToFleet(f, at(e));
    expect(f.jobs.get("j1")?.state).toBe("scheduled");
    expect(f.hosts.get("h1")?.used.vcpus).toBe(2);
    applyToFleet(f, at({ type: "VmExited", data: { ...ref, exitCode: 3, reason: "exited", runMs: 1 } }));
    applyToFleet(f, at({ type: "JobCompleted", data: { jobId: "j1", conclusion: "failure", exitCode: 3, reportedBy: "vm" } }));
    expect(f.hosts.get("h1")?.used.vcpus).toBe(2);
    applyToFleet(f, at({ type: "VmDestroyed", data: { ...ref, removed: [] } }));
    expect(f.hosts.get("h1")?.used.vcpus).toBe(0);
    expect(f.jobs.get("j1")).toMatchObject({ state: "completed", exitCode: 3 });
  });

  it("never moves a job backwards (completed before started)", () => {
    const f = emptyFleet();
    applyToFleet(f, at(queued("j2")));
    applyToFleet(f, at({ type: "JobCompleted", data: { jobId: "j2", conclusion: "cancelled", exitCode: null, reportedBy: "provider" } }));
    applyToFleet(f, at({ type: "JobStarted", data: { jobId: "j2", reportedBy: "webhook" } }));
    expect(f.jobs.get("j2")?.state).toBe("completed");
  });

  it("marks a lost host lost, and releases its allocations once it fenced", () => {
    const f = emptyFleet();
    applyToFleet(f, at(host("h1")));
    applyToFleet(f, at({ type: "JobScheduled", data: { jobId: "j1", hostId: "h1", vmId: "vm1", spec, attempt: 0 } }));
    applyToFleet(f, at({ type: "HostLost", data: { hostId: "h1", lastSeenAt: null, reason: "gone" } }));
    expect(f.hosts.get("h1")).toMatchObject({ status: "lost", vms: 1 });
    applyToFleet(f, at({ type: "HostFenced", data: { hostId: "h1", registeredSeq: 1, lostSeq: 3, trigger: "host-lost", vmsStopped: ["vm1"], reason: "x" } }));
    expect(f.hosts.get("h1")).toMatchObject({ status: "lost", vms: 0, used: { vcpus: 0 } });
  });

  it("forgets jobs that ended more than a week before the log's time, oldest first, and keeps the rest", () => {
    const f = emptyFleet();
    const day = (d: number, e: DomainEvent, atSeq?: number) => ({
      ...at(e),
      occurredAt: new Date(Date.UTC(2026, 10, 1 + d)).toISOString(),
      ...(atSeq ? { seq: atSeq } : {}),
    });
    const done = (jobId: string): DomainEvent => ({ type: "JobCompleted", data: { jobId, conclusion: "success", exitCode: 0, reportedBy: "vm" } });
    applyToFleet(f, day(0, queued("old")));
    applyToFleet(f, day(0, done("old")));
    applyToFleet(f, day(0, queued("running")));
    applyToFleet(f, day(0, { type: "JobStarted", data: { jobId: "running", reportedBy: "webhook" } }));
    applyToFleet(f, day(2, queued("recent")));
    applyToFleet(f, day(2, done("recent")));
    // Not on a forgetting sequence: nothing is forgotten yet, whatever the time.
    applyToFleet(f, day(8, queued("other"), 1025));
    expect([...f.jobs.keys()].sort()).toEqual(["old", "other", "recent", "running"]);
    applyToFleet(f, day(8, queued("other2"), 2048));
    expect([...f.jobs.keys()].sort()).toEqual(["other", "other2", "recent", "running"]);
    expect([...f.finished.keys()]).toEqual(["recent"]);
    applyToFleet(f, day(10, queued("other3"), 3072));
    expect(f.jobs.has("recent")).toBe(false);
    expect(f.jobs.get("running")?.state).toBe("running");
  });

  it("draws capacity bars", () => {
    expect(bar(5, 10)).toBe("[#####.....] 5/10");
    expect(bar(0, 0)).toBe("[..........] 0/0");
  });

  it("parses --since", () => {
    const now = new Date("2026-11-28T10:00:00Z");
    expect(parseSince("42", now)).toEqual({ startSeq: 42 });
    expect(parseSince("10m", now)).toEqual({ startTime: new Date("2026-11-28T09:50:00Z") });
    expect(parseSince("2026-11-27T00:00:00Z", now)).toEqual({ startTime: new Date("2026-11-27T00:00:00Z") });
    expect(() => parseSince("yesterday-ish", now)).toThrow(/--since/);
  });
});
