import type { EventOf, WarmShape } from "@oneshot/proto";
import { vmIdFor } from "@oneshot/proto";
import { describe, expect, it } from "vitest";
import { given, lost, placements, queued, registered } from "../testing/fixtures.js";

const shape: WarmShape = { arch: "amd64", vcpus: 1, memMiB: 1024, diskGiB: 10, image: "minimal" };
const warmed = (hostId: string, vmId: string, s: Partial<WarmShape> = {}): EventOf<"VmWarmed"> => ({
  type: "VmWarmed",
  data: {
    hostId,
    vmId,
    shape: { ...shape, ...s },
    vmm: "qemu",
    accel: "tcg",
    timings: { diskMs: 1, configMs: 1, netMs: 1, vmmStartMs: 1, agentReadyMs: 1, totalMs: 5 },
  },
});
const retired = (hostId: string, vmId: string): EventOf<"WarmVmRetired"> => ({
  type: "WarmVmRetired",
  data: { hostId, vmId, reason: "max-age", detail: "old", removed: [] },
});

describe("warm pool placement (docs/warm-pool.md)", () => {
  it("given a ready warm VM of the job's shape, then the job is handed to it (start warm, the warm VM's id) instead of a boot", () => {
    const [d, ...rest] = given(registered("h1"), registered("h2"), warmed("h2", "w1"), queued("j1")).decide();
    expect(rest).toEqual([]);
    expect(d).toMatchObject({
      subject: "evt.host.h2",
      msgId: "sched:j1:0",
      event: { type: "JobScheduled", data: { jobId: "j1", hostId: "h2", vmId: "w1", start: "warm", attempt: 0 } },
    });
  });

  it("given a warm VM of another shape, then the job boots cold with its own VM id", () => {
    const [d] = given(registered("h1"), warmed("h1", "w1", { memMiB: 2048 }), queued("j1")).decisions();
    expect(d).toMatchObject({ type: "JobScheduled", data: { vmId: vmIdFor("j1", 0) } });
    expect(d?.type === "JobScheduled" && d.data.start).toBeFalsy();
  });

  it("given two jobs and one warm VM, then one is handed the warm VM and the other boots cold (a burst falls back)", () => {
    const ds = given(registered("h1"), warmed("h1", "w1"), queued("a"), queued("b")).decisions();
    expect(ds.map((d) => (d.type === "JobScheduled" ? [d.data.jobId, d.data.vmId] : []))).toEqual([
      ["a", "w1"],
      ["b", vmIdFor("b", 0)],
    ]);
  });

  it("once handed out, a warm VM is not handed a second job; a retired one is never handed out", () => {
    const s = given(registered("h1"), warmed("h1", "w1"), warmed("h1", "w2"), queued("a")).decided();
    expect(s.state.warm?.has("w1")).toBe(false);
    const t = s.and(retired("h1", "w2"), queued("b"));
    const [d] = t.decisions();
    expect(d).toMatchObject({ type: "JobScheduled", data: { jobId: "b", vmId: vmIdFor("b", 0) } });
  });

  it("a full host still hands out its warm VM: the job runs in the VM's own pool slot and holds nothing of the registered capacity", () => {
    const s = given(registered("h1", { vcpus: 1 }), queued("a"))
      .decided()
      .and(warmed("h1", "w1"), queued("b"));
    expect(s.decisions()).toMatchObject([{ type: "JobScheduled", data: { jobId: "b", vmId: "w1", start: "warm" } }]);
    const t = s.decided();
    expect(t.state.hosts.get("h1")!.used).toEqual({ vcpus: 1, memMiB: 1024, diskGiB: 10 });
    // Its VmDestroyed gives back nothing it did not take.
    expect(t.and({ type: "VmDestroyed", data: { ...t.placementOf("b"), removed: [] } }).state.hosts.get("h1")!.used).toEqual({
      vcpus: 1,
      memMiB: 1024,
      diskGiB: 10,
    });
  });

  it("a lost host's warm VMs are not handed out", () => {
    const s = given(registered("h1"), registered("h2"), warmed("h1", "w1"), lost("h1"), queued("a"));
    expect(placements(s.decisions())).toEqual({ a: "h2" });
  });

  it("a cold job of another shape that fits nowhere preempts warm VMs (oldest first, fewest needed) and borrows their capacity", () => {
    // h1 registers 2 vCPUs for cold work (its pool's 2 are withheld) and runs a 2-vCPU job.
    const s = given(registered("h1", { vcpus: 2 }), queued("big", { vcpus: 2 }))
      .decided()
      .and(warmed("h1", "w1"), warmed("h1", "w2"), queued("other", { memMiB: 256 }));
    const [d, ...rest] = s.decide();
    expect(rest).toEqual([]);
    expect(d!.event).toMatchObject({
      type: "JobScheduled",
      data: { jobId: "other", hostId: "h1", vmId: vmIdFor("other", 0), preempts: [{ vmId: "w1", shape }] },
    });
    // Folded back: w1 is gone, the job holds nothing of the registered capacity (it borrows w1's), w2 is still handed out to a matching job.
    const t = s.decided().and(queued("match"));
    expect(t.state.warm?.has("w1")).toBe(false);
    expect(t.state.hosts.get("h1")!.used).toEqual({ vcpus: 2, memMiB: 1024, diskGiB: 10 });
    expect(t.decisions()).toMatchObject([{ type: "JobScheduled", data: { jobId: "match", vmId: "w2", start: "warm" } }]);
  });

  it("never past capacity: no preemption when the warm VMs would not make room, and never of the job's own shape", () => {
    const full = given(registered("h1", { vcpus: 2 }), queued("big", { vcpus: 2 }))
      .decided()
      .and(warmed("h1", "w1"));
    expect(full.and(queued("huge", { vcpus: 2 })).decisions()).toEqual([]); // 1 warm vCPU is not 2
    // Its own shape: handed over (warm), not preempted.
    expect(full.and(queued("same")).decisions()).toMatchObject([{ type: "JobScheduled", data: { vmId: "w1", start: "warm" } }]);
  });

  it("a borrowing job's VmDestroyed gives back exactly what it held", () => {
    const s = given(registered("h1", { vcpus: 2 }), queued("big", { vcpus: 2 }))
      .decided()
      .and(warmed("h1", "w1"), queued("other", { memMiB: 256 }))
      .decided();
    const ref = s.placementOf("other");
    const t = s.and({ type: "VmDestroyed", data: { ...ref, removed: [] } });
    expect(t.state.hosts.get("h1")!.used).toEqual({ vcpus: 2, memMiB: 1024, diskGiB: 10 });
  });
});
