import { vmIdFor } from "@oneshot/proto";
import { describe, expect, it } from "vitest";
import { evolve } from "./evolve.js";
import { historyOf } from "./history.js";
import {
  fenced,
  given,
  hostEvent,
  jobEvent,
  leaseExpired,
  lost,
  placementExpired,
  placements,
  queued,
  registered,
  started,
  vmBootFailed,
  vmBootRequested,
  vmDestroyed,
  vmExited,
} from "../testing/fixtures.js";

describe("capacity frees when the VM is destroyed", () => {
  const full = given(registered("h1", { vcpus: 4 }), queued("a", { vcpus: 4 }))
    .decided()
    .and(queued("b", { vcpus: 4 }));

  it("given a full host, when the job completes and its VM exits, then the next job still waits", () => {
    const a = full.placementOf("a");
    expect(full.and(jobEvent("JobCompleted", "a"), vmExited(a)).decisions()).toEqual([]);
  });

  it("given a full host, when its VM is destroyed, then the waiting job is placed at once", () => {
    const a = full.placementOf("a");
    expect(placements(full.and(started("a", a), vmExited(a), vmDestroyed(a)).decisions())).toEqual({ b: "h1" });
  });

  it("given a VM destroyed twice (a repeated event), then capacity is freed once", () => {
    const s = given(registered("h1", { vcpus: 4 }), queued("a", { vcpus: 2 }), queued("x", { vcpus: 2 })).decided();
    const a = s.placementOf("a");
    const after = s.and(started("a", a), vmDestroyed(a), vmDestroyed(a), queued("b", { vcpus: 2 }), queued("c", { vcpus: 2 }));
    expect(Object.keys(placements(after.decisions()))).toHaveLength(1);
    expect(after.state.hosts.get("h1")!.used.vcpus).toBe(2);
  });
});

describe("what the scheduler writes after a VM is gone", () => {
  const local = given(registered("h1"), queued("l1", { provider: "local", org: "local" })).decided();
  const vm = local.placementOf("l1");

  for (const [exit, reason, conclusion] of [
    [0, "exited", "success"],
    [3, "exited", "failure"],
    [null, "timeout", "timed_out"],
    [null, "crashed", "failure"],
  ] as const) {
    it(`given a local job whose VM ended (${reason}, exit ${exit}), when it is destroyed, then JobCompleted ${conclusion}`, () => {
      const s = local.and(vmExited(vm, exit, reason), vmDestroyed(vm));
      expect(s.decisions()).toEqual([{ type: "JobCompleted", data: { jobId: "l1", conclusion, exitCode: exit, reportedBy: "vm" } }]);
      expect(s.decide()[0]).toMatchObject({ subject: "evt.job.l1", msgId: "done:l1", expectedLastSubjectSeq: 2, causationId: `e-${s.log.length}` });
      expect(s.decided().decisions()).toEqual([]);
    });
  }

  it("given a local job that exited but whose VM is not destroyed yet, then nothing is written yet", () => {
    expect(local.and(vmExited(vm, 0)).decisions()).toEqual([]);
  });

  it("given a GitHub job that ran on its VM, when the VM is destroyed, then the scheduler writes nothing (GitHub reports the end)", () => {
    const s = given(registered("h1"), queued("g1")).decided();
    const g = s.placementOf("g1");
    const after = s.and(started("g1", g), vmExited(g, 0), vmDestroyed(g));
    expect(after.decisions()).toEqual([]);
    expect(after.state.jobs.get("g1")!.phase).toBe("started");
    expect(after.and(jobEvent("JobCompleted", "g1")).state.finished.has("g1")).toBe(true);
  });

  it("given a boot failure, when the VM is destroyed, then the job is requeued with the next attempt and placed with a new VM id", () => {
    const s = local.and(vmBootFailed(vm), vmDestroyed(vm));
    expect(s.decisions()).toEqual([
      {
        type: "JobRequeued",
        data: { jobId: "l1", fromHostId: "h1", vmId: vm.vmId, reason: "boot failed: agent-timeout: no ready marker", attempt: 1, releasesVm: false },
      },
    ]);
    expect(s.decide()[0]!.msgId).toBe("requeue:l1:1");
    const again = s.decided().decisions();
    expect(again).toEqual([
      expect.objectContaining({ type: "JobScheduled", data: expect.objectContaining({ jobId: "l1", attempt: 1, vmId: vmIdFor("l1", 1) }) }),
    ]);
  });

  it("given a job that failed to boot SCHEDULER_MAX_ATTEMPTS times, then JobFailed instead of another requeue", () => {
    let s = local;
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = s.placementOf("l1");
      s = s.and(vmBootFailed(r), vmDestroyed(r)).decided().decided();
    }
    const last = s.placementOf("l1");
    expect(last.vmId).toBe(vmIdFor("l1", 2));
    const failed = s.and(vmBootFailed(last), vmDestroyed(last));
    expect(failed.decisions()).toEqual([
      { type: "JobFailed", data: { jobId: "l1", hostId: "h1", vmId: last.vmId, reason: "boot failed 3 times; last on h1: agent-timeout: no ready marker" } },
    ]);
    expect(failed.decided().decisions()).toEqual([]);
    expect(failed.decisions({ maxAttempts: 5 })[0]!.type).toBe("JobRequeued");
  });

  it("given a host is lost, then nothing of its jobs moves until it fenced; then they are requeued and placed elsewhere, and its capacity is dropped", () => {
    const lostOnly = given(registered("h1"), queued("a"), queued("b")).decided().and(registered("h2"), lost("h1"));
    // Its VMs may still run (docs/fencing.md): no requeue, no new work there.
    expect(lostOnly.decisions()).toEqual([]);
    expect(lostOnly.state.hosts.get("h1")!.used.vcpus).toBe(2);
    const s = lostOnly.and(fenced("h1"));
    const requeues = s.decisions();
    expect(requeues.map((e) => [e.type, "jobId" in e.data ? e.data.jobId : "", "reason" in e.data ? e.data.reason : ""])).toEqual([
      ["JobRequeued", "a", "host lost (no heartbeat for 60s); it stopped its VMs"],
      ["JobRequeued", "b", "host lost (no heartbeat for 60s); it stopped its VMs"],
    ]);
    expect(s.state.hosts.get("h1")!.used.vcpus).toBe(0);
    expect(placements(s.decided().decisions())).toEqual({ a: "h2", b: "h2" });
  });

  it("given a lost host that never reports a fence, then its jobs are requeued when the janitor says its lease ran out", () => {
    const s = given(registered("h1"), queued("a")).decided().and(registered("h2"), lost("h1"), leaseExpired("h1"));
    expect(s.decisions().map((e) => [e.type, "reason" in e.data ? e.data.reason : ""])).toEqual([
      ["JobRequeued", "host lost (no heartbeat for 60s); its lease ran out"],
    ]);
    expect(s.state.hosts.get("h1")!.used.vcpus).toBe(0);
  });

  it("given a lost host's VM is reported destroyed before its fence, then that job is requeued at once, uncounted (the VM is known gone)", () => {
    const s = given(registered("h1"), registered("h2"), queued("a", { provider: "local", org: "local" }), queued("b")).decided();
    const a = s.placementOf("a");
    const b = s.placementOf("b");
    const onLost = s.and(lost(a.hostId), vmExited(a, null, "killed"), vmDestroyed(a));
    // Not completed from its exit (the job did not fail, its host did); b's VM may still run: b waits.
    expect(onLost.decisions().map((e) => [e.type, "jobId" in e.data ? e.data.jobId : ""])).toEqual([["JobRequeued", "a"]]);
    expect(onLost.state.jobs.get("a")!.bootFailures).toBe(0);
    expect(onLost.state.jobs.get("b")).toMatchObject({ phase: "placed", vmId: b.vmId });
  });

  it("given a host lost and then registered again without a fence (a restarted hostd), then what it kept stays placed there", () => {
    const s = given(registered("h1"), queued("a")).decided().and(lost("h1"), registered("h1"));
    expect(s.decisions()).toEqual([]);
    expect(s.state.jobs.get("a")).toMatchObject({ phase: "placed", hostId: "h1" });
    expect(s.state.hosts.get("h1")).toMatchObject({ lost: false, fencePending: false, used: { vcpus: 1 } });
  });

  it("given a host fenced itself (lease-expired) while nobody declared it lost, then nothing moves: its VMs' own events tell", () => {
    const s = given(registered("h1"), queued("a"))
      .decided()
      .and(fenced("h1", [], "lease-expired"));
    expect(s.decisions()).toEqual([]);
    expect(s.state.jobs.get("a")).toMatchObject({ phase: "placed", hostId: "h1" });
  });

  it("given a free VM on a lost host, then no job is rebound to it and it is not idled before the fence", () => {
    const s = given(registered("h1"), registered("h2"), queued("c")).decided();
    const c = s.placementOf("c");
    const free = s.and(jobEvent("JobCancelled", "c"), lost(c.hostId), queued("d"));
    const ds = free.decisions();
    expect(ds.map((d) => d.type)).toEqual(["JobScheduled"]);
    expect(ds[0]!.data).toMatchObject({ jobId: "d" });
    expect((ds[0]!.data as { hostId: string }).hostId).not.toBe(c.hostId);
  });

  it("given a host lost while a job is cancelled, then only the live job is requeued once it fenced", () => {
    const s = given(registered("h1"), queued("a"), queued("b")).decided().and(jobEvent("JobCancelled", "a"), lost("h1"), fenced("h1"));
    expect(s.decisions().map((e) => ("jobId" in e.data ? e.data.jobId : e.type))).toEqual(["b"]);
  });

  it("given the janitor requeued a job whose VM vanished (an old v1 JobRequeued, upcast to releasesVm: true), then that VM's capacity frees and the job is placed again", () => {
    const s = given(registered("h1", { vcpus: 2 }), queued("a", { vcpus: 2 })).decided();
    const a = s.placementOf("a");
    const after = s.and({ type: "JobRequeued", data: { jobId: "a", fromHostId: "h1", vmId: a.vmId, reason: "vanished", attempt: 1, releasesVm: true } });
    expect(after.state.hosts.get("h1")!.used.vcpus).toBe(0);
    expect(after.decisions()).toEqual([
      expect.objectContaining({ type: "JobScheduled", data: expect.objectContaining({ jobId: "a", hostId: "h1", attempt: 1 }) }),
    ]);
  });

  it("given a requeued job's old VM is destroyed later, then the new placement is unaffected", () => {
    const s = given(registered("h1"), registered("h2"), queued("a")).decided();
    const old = s.placementOf("a");
    const moved = s.and(lost(old.hostId), fenced(old.hostId), registered(old.hostId)).decided().decided();
    const now = moved.placementOf("a");
    expect(now.vmId).not.toBe(old.vmId);
    const after = moved.and(vmDestroyed(old));
    expect(after.state.jobs.get("a")).toMatchObject({ phase: "placed", vmId: now.vmId });
    expect(after.decisions()).toEqual([]);
  });
});

describe("placements nobody claimed (PlacementExpired)", () => {
  it("given the janitor expired an unclaimed placement, then its capacity frees and the job is placed again, counted as a failed boot", () => {
    const s = given(registered("h1", { vcpus: 1 }), queued("a")).decided();
    const a = s.placementOf("a");
    const after = s.and(placementExpired(a));
    expect(after.state.hosts.get("h1")!.used.vcpus).toBe(0);
    expect(after.state.jobs.get("a")!.bootFailures).toBe(1);
    expect(after.decisions()).toEqual([expect.objectContaining({ type: "JobRequeued", data: expect.objectContaining({ jobId: "a", attempt: 1 }) })]);
    expect(after.decisions()[0]!.data).toMatchObject({ reason: expect.stringMatching(/^boot failed: placement-expired: no VmBootRequested/) });
  });

  it("given hostd claimed the placement before the expiry was stored, then the expiry is void", () => {
    const s = given(registered("h1"), queued("a")).decided();
    const a = s.placementOf("a");
    const after = s.and(vmBootRequested(a), placementExpired(a));
    expect(after.state.hosts.get("h1")!.used.vcpus).toBe(1);
    expect(after.decisions()).toEqual([]);
  });

  it("given an expiry for another attempt than the live placement, then nothing changes", () => {
    const s = given(registered("h1"), queued("a")).decided();
    const a = s.placementOf("a");
    expect(s.and(placementExpired(a, 7)).state.hosts.get("h1")!.used.vcpus).toBe(1);
  });

  it("given placements expire maxAttempts times, then the job fails", () => {
    let s = given(registered("h1"), queued("a")).decided();
    for (let i = 0; i < 2; i++)
      s = s
        .and(placementExpired(s.placementOf("a"), i))
        .decided()
        .decided();
    const last = s.placementOf("a");
    expect(s.and(placementExpired(last, 2)).decisions()).toEqual([
      expect.objectContaining({
        type: "JobFailed",
        data: expect.objectContaining({ reason: expect.stringMatching(/^boot failed 3 times; last on h1: placement-expired/) }),
      }),
    ]);
  });
});

describe("out of order and repeated events", () => {
  it("given JobCompleted arrived before JobQueued, then the job is never placed", () => {
    expect(given(registered("h1"), jobEvent("JobCompleted", "a"), queued("a")).decisions()).toEqual([]);
  });

  it("given a job cancelled while waiting, then it is not placed", () => {
    expect(given(registered("h1"), queued("a"), jobEvent("JobCancelled", "a")).decisions()).toEqual([]);
  });

  it("given JobQueued twice, then the job is placed once", () => {
    expect(given(registered("h1"), queued("a"), queued("a")).decisions()).toHaveLength(1);
  });

  it("given an event at or below the last applied sequence (a redelivery), then it changes nothing", () => {
    const s = given(registered("h1"), queued("a"));
    const [stale] = historyOf([hostEvent("HostCordoned", "h1")], s.state.lastSeq);
    evolve(s.state, stale!);
    expect(s.state.hosts.get("h1")!.cordoned).toBe(false);
    expect(placements(s.decisions())).toEqual({ a: "h1" });
  });
});
