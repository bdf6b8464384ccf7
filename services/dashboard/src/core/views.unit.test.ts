import { describe, expect, it } from "vitest";
import type { DomainEvent, HostHeartbeat, Stored, WarmShape } from "@oneshot/proto";
import { applyEvent, applyHeartbeat, emptyDashboard, type DashboardState } from "./dashboard-state.js";
import { decideAction } from "./operator-action.js";
import { hostsView, jobView, outcomeOf, queueView, recentJobsView, snapshot } from "./views.js";

const T0 = Date.parse("2026-11-28T10:00:00.000Z");
const spec = { arch: "amd64", vcpus: 2, memMiB: 1024, diskGiB: 1, image: "minimal", timeoutSec: 60 } as const;

/** A log written in order: each event gets the next sequence and a time `sec` after T0. */
function log() {
  let seq = 0;
  return (e: DomainEvent, o: { corr?: string; sec?: number; subject?: string } = {}): Stored<DomainEvent> =>
    ({
      ...e,
      seq: ++seq,
      subject: o.subject ?? "evt.x",
      id: `e${seq}`,
      version: 1,
      occurredAt: new Date(T0 + (o.sec ?? seq) * 1000).toISOString(),
      correlationId: o.corr ?? "c-host",
      causationId: null,
    }) as Stored<DomainEvent>;
}

const host = (hostId: string, vcpus = 4): DomainEvent => ({
  type: "HostRegistered",
  data: {
    hostId,
    arch: "amd64",
    capacity: { vcpus, memMiB: 4096, diskGiB: 10 },
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
const ref = (jobId: string, vmId: string) => ({ hostId: "h1", vmId, jobId });

/** A whole local job from the CLI's request to its destroyed VM, under one correlation id. */
function lifecycle(s: DashboardState, at: ReturnType<typeof log>, jobId: string, vmId: string, exitCode: number, corr: string, from = 10) {
  const steps: DomainEvent[] = [
    queued(jobId),
    { type: "JobScheduled", data: { jobId, hostId: "h1", vmId, spec, attempt: 0 } },
    { type: "VmBootRequested", data: { ...ref(jobId, vmId), tap: `os-${vmId}`, disks: [] } },
    {
      type: "VmBooted",
      data: {
        ...ref(jobId, vmId),
        vmm: "qemu",
        accel: "tcg",
        pid: 1,
        timings: { diskMs: 1, configMs: 1, netMs: 1, vmmStartMs: 1, agentReadyMs: 1, totalMs: 5 },
      },
    },
    { type: "VmExited", data: { ...ref(jobId, vmId), exitCode, reason: "exited", runMs: 10 } },
    { type: "VmDestroyed", data: { ...ref(jobId, vmId), removed: [] } },
    { type: "JobCompleted", data: { jobId, conclusion: exitCode === 0 ? "success" : "failure", exitCode, reportedBy: "hostd" } },
  ] as DomainEvent[];
  steps.forEach((e, i) => applyEvent(s, at(e, { corr, sec: from + i })));
}

describe("dashboard views", () => {
  it("puts live jobs in waiting / placed / running with their age, oldest first", () => {
    const s = emptyDashboard();
    const at = log();
    applyEvent(s, at(host("h1")));
    applyEvent(s, at(queued("j-wait-new"), { corr: "a", sec: 50 }));
    applyEvent(s, at(queued("j-wait-old"), { corr: "b", sec: 20 }));
    applyEvent(s, at(queued("j-placed"), { corr: "c", sec: 30 }));
    applyEvent(s, at({ type: "JobScheduled", data: { jobId: "j-placed", hostId: "h1", vmId: "vm1", spec, attempt: 0 } }, { corr: "c", sec: 31 }));
    applyEvent(s, at(queued("j-run"), { corr: "d", sec: 40 }));
    applyEvent(s, at({ type: "JobScheduled", data: { jobId: "j-run", hostId: "h1", vmId: "vm2", spec, attempt: 0 } }, { corr: "d", sec: 41 }));
    applyEvent(
      s,
      at(
        {
          type: "VmBooted",
          data: {
            ...ref("j-run", "vm2"),
            vmm: "qemu",
            accel: "tcg",
            pid: 1,
            timings: { diskMs: 1, configMs: 1, netMs: 1, vmmStartMs: 1, agentReadyMs: 1, totalMs: 5 },
          },
        },
        { corr: "d", sec: 42 },
      ),
    );
    const q = queueView(s, T0 + 100_000);
    expect(q.waiting.map((r) => [r.jobId, r.ageSec])).toEqual([
      ["j-wait-old", 80],
      ["j-wait-new", 50],
    ]);
    expect(q.placed.map((r) => [r.jobId, r.hostId, r.vmId, r.ageSec])).toEqual([["j-placed", "h1", "vm1", 70]]);
    expect(q.running.map((r) => [r.jobId, r.state])).toEqual([["j-run", "running"]]);
    // A clock behind the log never shows a negative age.
    expect(queueView(s, T0).waiting.every((r) => r.ageSec === 0)).toBe(true);
  });

  it("gives a job its whole correlated timeline, from JobQueued to VmDestroyed, and nothing of another job's", () => {
    const s = emptyDashboard();
    const at = log();
    applyEvent(s, at(host("h1")));
    lifecycle(s, at, "j1", "vm1", 0, "cli-run-1");
    lifecycle(s, at, "j2", "vm2", 3, "cli-run-2", 30);
    const v = jobView(s, "j1", T0 + 60_000)!;
    expect(v.correlationId).toBe("cli-run-1");
    expect(v.timeline.map((e) => e.type)).toEqual(["JobQueued", "JobScheduled", "VmBootRequested", "VmBooted", "VmExited", "VmDestroyed", "JobCompleted"]);
    expect(v.timeline.every((e) => e.correlationId === "cli-run-1")).toBe(true);
    expect(v.timeline[1]!.summary).toContain("j1 → h1 vm vm1");
    expect(v.console).toEqual({ hostId: "h1", vmId: "vm1" });
    expect(v.job.outcome).toBe("succeeded");
    expect(jobView(s, "j2", T0)!.job).toMatchObject({ outcome: "failed", exitCode: 3, finished: true });
    expect(jobView(s, "nope", T0)).toBeUndefined();
  });

  it("shows what a job's egress policy denied in its timeline (VmEgressDenied, on the VM's subject)", () => {
    const s = emptyDashboard();
    const at = log();
    applyEvent(s, at(queued("j1"), { corr: "cli-run-1" }));
    applyEvent(
      s,
      at(
        {
          type: "VmEgressDenied",
          data: {
            ...ref("j1", "vm1"),
            mode: "allow",
            source: "cli",
            windowStart: "2026-11-28T10:00:01Z",
            windowEnd: "2026-11-28T10:00:02Z",
            destinations: [{ address: "203.0.113.9", protocol: "tcp", port: 443, count: 3, reason: "not-allowed", action: "dropped", names: [] }],
            queries: [{ name: "evil.test", count: 1, action: "refused" }],
            droppedDestinations: 0,
            droppedQueries: 0,
          },
        },
        { corr: "cli-run-1", subject: "evt.host.h1.vm.vm1" },
      ),
    );
    const tl = jobView(s, "j1", T0)!.timeline;
    expect(tl.map((e) => e.type)).toEqual(["JobQueued", "VmEgressDenied"]);
    expect(tl[1]!.summary).toBe("vm1 egress allow (cli): dropped 203.0.113.9:443/tcp ×3; refused evil.test ×1");
  });

  it("adds to a job's timeline an event naming it under another correlation id (an operator's cancel)", () => {
    const s = emptyDashboard();
    const at = log();
    applyEvent(s, at(queued("j1"), { corr: "hook-1" }));
    applyEvent(s, at({ type: "JobCancelled", data: { jobId: "j1", reason: "operator" } }, { corr: "dashboard-x" }));
    applyEvent(s, at(host("h9"), { corr: "hook-1" })); // same correlation, no job id: still part of what that delivery did
    expect(jobView(s, "j1", T0)!.timeline.map((e) => e.type)).toEqual(["JobQueued", "JobCancelled", "HostRegistered"]);
    expect(outcomeOf(s.fleet.jobs.get("j1")!)).toBe("cancelled");
  });

  it("shows hosts with capacity in use, cordon state, accel and the latest heartbeat by the dashboard's clock", () => {
    const s = emptyDashboard();
    const at = log();
    applyEvent(s, at(host("h1", 4)));
    applyEvent(s, at(queued("j1"), { corr: "a" }));
    applyEvent(s, at({ type: "JobScheduled", data: { jobId: "j1", hostId: "h1", vmId: "vm1", spec, attempt: 0 } }, { corr: "a" }));
    applyEvent(s, at({ type: "HostCordoned", data: { hostId: "h1", reason: "disk" } }));
    const beat: HostHeartbeat["data"] = {
      hostId: "h1",
      runningVms: 1,
      used: { vcpus: 2, memMiB: 1024, diskGiB: 1 },
      capacity: { vcpus: 4, memMiB: 4096, diskGiB: 10 },
      accel: "tcg",
      draining: false,
      uptimeSec: 30,
    };
    applyHeartbeat(s, beat, "tel.host.h1.heartbeat", T0 + 5_000);
    applyHeartbeat(s, { ...beat, hostId: "h2" }, "tel.host.h1.heartbeat", T0 + 5_000); // speaks for another host: ignored
    const [h] = hostsView(s, T0 + 12_000);
    expect(h).toMatchObject({ hostId: "h1", status: "cordoned", accel: "tcg", vmm: "qemu", cpuPct: 50, memPct: 25, vms: 1, warm: undefined });
    expect(h!.heartbeat).toEqual({ ageSec: 7, runningVms: 1, uptimeSec: 30, draining: false });
    expect(s.heartbeats.has("h2")).toBe(false);
  });

  it("counts a host's ready warm VMs per shape, until one is handed a job, retired, or its host restarts", () => {
    const s = emptyDashboard();
    const at = log();
    const shape: WarmShape = { arch: "amd64", vcpus: 1, memMiB: 256, diskGiB: 1, image: "minimal" };
    const timings = { diskMs: 1, configMs: 1, netMs: 1, vmmStartMs: 1, agentReadyMs: 1, totalMs: 5 };
    const warmed = (vmId: string, sh = shape): DomainEvent => ({
      type: "VmWarmed",
      data: { hostId: "h1", vmId, shape: sh, vmm: "qemu", accel: "tcg", timings },
    });
    applyEvent(s, at(host("h1")));
    for (const e of [warmed("w1"), warmed("w2"), warmed("w3"), warmed("w4", { ...shape, vcpus: 2 })]) applyEvent(s, at(e));
    expect(hostsView(s, T0)[0]!.warm).toEqual({ ready: 4, shapes: { "amd64 1cpu/256MiB/minimal": 3, "amd64 2cpu/256MiB/minimal": 1 } });
    applyEvent(s, at(queued("j1"), { corr: "a" }));
    applyEvent(s, at({ type: "JobScheduled", data: { jobId: "j1", hostId: "h1", vmId: "w1", spec, attempt: 0, start: "warm" } }, { corr: "a" }));
    applyEvent(s, at({ type: "WarmVmRetired", data: { hostId: "h1", vmId: "w2", reason: "max-age", detail: "", removed: [] } }));
    expect(hostsView(s, T0)[0]!.warm).toEqual({ ready: 2, shapes: { "amd64 1cpu/256MiB/minimal": 1, "amd64 2cpu/256MiB/minimal": 1 } });
    applyEvent(s, at(host("h1"))); // hostd restarted: it retired its pool before registering again
    expect(hostsView(s, T0)[0]!.warm).toBeUndefined();
  });

  it("lists recent jobs newest first with their outcome, and forgets the oldest finished ones past the limit, never a live one", () => {
    const s = emptyDashboard({ jobsKept: 10 });
    const at = log();
    applyEvent(s, at(host("h1")));
    applyEvent(s, at(queued("live-0"), { corr: "live" }));
    for (let i = 0; i < 12; i++) lifecycle(s, at, `j${i}`, `vm${i}`, i % 2, `c${i}`, 100 + i * 10);
    const recent = recentJobsView(s);
    expect(recent[0]).toMatchObject({ jobId: "j11", outcome: "failed", exitCode: 1 });
    expect(recent[1]).toMatchObject({ jobId: "j10", outcome: "succeeded", exitCode: 0 });
    expect(recent.map((r) => r.jobId)).toContain("live-0");
    expect(s.timelines.size).toBe(10);
    expect(s.timelines.has("j0")).toBe(false);
    expect(s.timelines.has("live-0")).toBe(true);
  });

  it("applies each sequence once (a follow that restarted earlier) and keeps the newest events first in the snapshot", () => {
    const s = emptyDashboard({ eventsKept: 3 });
    const at = log();
    const events = [host("h1"), host("h2"), host("h3"), host("h4")].map((e) => at(e));
    for (const e of [...events, ...events]) applyEvent(s, e);
    const snap = snapshot(s, T0, true);
    expect(snap.events.map((e) => e.seq)).toEqual([4, 3, 2]);
    expect(snap.hosts).toHaveLength(4);
    expect(snap.lastSeq).toBe(4);
  });
});

describe("operator actions", () => {
  const fleet = () => {
    const s = emptyDashboard();
    const at = log();
    applyEvent(s, at(host("h1")));
    applyEvent(s, at(queued("j1"), { corr: "run-1" }));
    lifecycle(s, at, "done", "vm9", 0, "run-2");
    return { s, at };
  };

  it("cordons a ready host with the CLI's event, and refuses what has nothing to do", () => {
    const { s, at } = fleet();
    const d = decideAction(s, { kind: "cordon", hostId: "h1" });
    expect(d).toEqual({ ok: true, event: { type: "HostCordoned", data: { hostId: "h1", reason: "cordon from the dashboard" } }, correlationId: undefined });
    if (d.ok) applyEvent(s, at(d.event));
    expect(decideAction(s, { kind: "cordon", hostId: "h1" })).toMatchObject({ ok: false, status: 409 });
    expect(decideAction(s, { kind: "uncordon", hostId: "h1" })).toMatchObject({ ok: true, event: { type: "HostUncordoned" } });
    expect(decideAction(s, { kind: "drain", hostId: "h1" })).toMatchObject({ ok: true, event: { type: "HostDrained" } });
    expect(decideAction(s, { kind: "drain", hostId: "nope" })).toMatchObject({ ok: false, status: 404 });
  });

  it("cancels a live job under its own correlation id, never a finished one", () => {
    const { s } = fleet();
    expect(decideAction(s, { kind: "cancel", jobId: "j1" })).toEqual({
      ok: true,
      event: { type: "JobCancelled", data: { jobId: "j1", reason: "cancelled from the dashboard" } },
      correlationId: "run-1",
    });
    expect(decideAction(s, { kind: "cancel", jobId: "done" })).toMatchObject({ ok: false, status: 409, reason: "job done is already completed" });
    expect(decideAction(s, { kind: "cancel", jobId: "ghost" })).toMatchObject({ ok: false, status: 404 });
  });
});
