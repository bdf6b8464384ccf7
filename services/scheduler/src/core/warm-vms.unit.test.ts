import type { EventOf, WarmShape } from "@oneshot/proto";
import { vmIdFor } from "@oneshot/proto";
import { describe, expect, it } from "vitest";
import { given, lost, placements, queued, registered } from "../testing/fixtures.js";

const shape: WarmShape = { arch: "amd64", vcpus: 1, memMiB: 1024, diskGiB: 10, image: "minimal" };
const warmed = (hostId: string, vmId: string, s: Partial<WarmShape> = {}): EventOf<"VmWarmed"> => ({
  type: "VmWarmed",
  data: { hostId, vmId, shape: { ...shape, ...s }, vmm: "qemu", accel: "tcg", timings: { diskMs: 1, configMs: 1, netMs: 1, vmmStartMs: 1, agentReadyMs: 1, totalMs: 5 } },
});
const retired = (hostId: string, vmId: string): EventOf<"WarmVmRetired"> => ({ type: "WarmVmRetired", data: { hostId, vmId, reason: "max-age", detail: "old", removed: [] } });

describe("warm pool placement (docs/warm-pool.md)", () => {
  it("given a ready warm VM of the job's shape, then the job is handed to it (start warm, the warm VM's id) instead of a boot", () => {
    const [d, ...rest] = given(registered("h1"), registered("h2"), warmed("h2", "w1"), queued("j1")).decide();
    expect(rest).toEqual([]);
    expect(d).toMatchObject({ subject: "evt.host.h2", msgId: "sched:j1:0", event: { type: "JobScheduled", data: { jobId: "j1", hostId: "h2", vmId: "w1", start: "warm", attempt: 0 } } });
  });

  it("given a warm VM of another shape, then the job boots cold with its own VM id", () => {
    const [d] = given(registered("h1"), warmed("h1", "w1", { memMiB: 2048 }), queued("j1")).decisions();
    expect(d).toMatchObject({ type: "JobScheduled", data: { vmId: vmIdFor("j1", 0) } });
    expect(d?.type === "JobScheduled" && d.data.start).toBeFalsy();
  });

  it("given two jobs and one warm VM, then one is handed the warm VM and the other boots cold (a burst falls back)", () => {
    const ds = given(registered("h1"), warmed("h1", "w1"), queued("a"), queued("b")).decisions();
    expect(ds.map((d) => (d.type === "JobScheduled" ? [d.data.jobId, d.data.vmId] : []))).toEqual([["a", "w1"], ["b", vmIdFor("b", 0)]]);
  });

  it("once handed out, a warm VM is not handed a second job; a retired one is never handed out", () => {
    const s = given(registered("h1"), warmed("h1", "w1"), warmed("h1", "w2"), queued("a")).decided();
    expect(s.state.warm?.has("w1")).toBe(false);
    const t = s.and(retired("h1", "w2"), queued("b"));
    const [d] = t.decisions();
    expect(d).toMatchObject({ type: "JobScheduled", data: { jobId: "b", vmId: vmIdFor("b", 0) } });
  });

  it("never past capacity: a host with a warm VM but no room for the job's reservation takes it neither warm nor cold", () => {
    const s = given(registered("h1", { vcpus: 1 }), queued("a")).decided().and(warmed("h1", "w1"), queued("b"));
    expect(s.decisions()).toEqual([]);
  });

  it("a lost host's warm VMs are not handed out", () => {
    const s = given(registered("h1"), registered("h2"), warmed("h1", "w1"), lost("h1"), queued("a"));
    expect(placements(s.decisions())).toEqual({ a: "h2" });
  });
});
