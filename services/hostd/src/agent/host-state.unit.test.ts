import { describe, expect, it } from "vitest";
import type { JobSpec } from "@oneshot/proto";
import {
  admit,
  cordon,
  deregistered,
  drain,
  enqueue,
  finish,
  initialHostState,
  judgePlacement,
  shouldDeregister,
  uncordon,
  used,
  type HostState,
  type Placement,
} from "./host-state.js";

const spec = (vcpus: number, memMiB: number): JobSpec => ({ arch: "amd64", vcpus, memMiB, diskGiB: 1, image: "minimal", timeoutSec: 60 });
const p = (vmId: string, vcpus = 1, memMiB = 256): Placement => ({ vmId, jobId: `loc-${vmId}`, spec: spec(vcpus, memMiB) });
const host = (maxConcurrent = 8) => initialHostState({ arch: "amd64", capacity: { vcpus: 4, memMiB: 1024, diskGiB: 10 }, maxConcurrent, images: ["minimal"] });

/** given placements accepted in order, when admitted, then these start. */
const given = (s: HostState, ...ps: Placement[]) => ps.reduce(enqueue, s);

describe("admission (one host)", () => {
  it("starts what fits, FIFO, and keeps the rest waiting", () => {
    const { state, start } = admit(given(host(2), p("a"), p("b"), p("c")));
    expect(start.map((x) => x.vmId)).toEqual(["a", "b"]);
    expect(state.queue.map((x) => x.vmId)).toEqual(["c"]);
    expect(used(state)).toEqual({ vcpus: 2, memMiB: 512, diskGiB: 2 });
  });

  it("starts the waiting one when a running one is destroyed", () => {
    const first = admit(given(host(2), p("a"), p("b"), p("c"))).state;
    const { state, start } = admit(finish(first, "a"));
    expect(start.map((x) => x.vmId)).toEqual(["c"]);
    expect(state.running.map((x) => x.vmId)).toEqual(["b", "c"]);
  });

  it("never exceeds capacity: a big job at the head waits, and small ones behind it wait too (no starvation)", () => {
    const s = admit(given(host(), p("a", 3), p("big", 2), p("small", 1))).state;
    expect(s.running.map((x) => x.vmId)).toEqual(["a"]);
    expect(s.queue.map((x) => x.vmId)).toEqual(["big", "small"]);
    expect(admit(finish(s, "a")).start.map((x) => x.vmId)).toEqual(["big", "small"]);
  });

  it("counts memory as well as vCPUs", () => {
    expect(admit(given(host(), p("a", 1, 768), p("b", 1, 512))).start.map((x) => x.vmId)).toEqual(["a"]);
  });
});

describe("placement verdicts", () => {
  it("refuses what can never run here, with a code", () => {
    expect(judgePlacement(host(), { ...p("x"), spec: { ...spec(1, 256), arch: "arm64" } })).toMatchObject({ kind: "reject", code: "wrong-arch" });
    expect(judgePlacement(host(), { ...p("x"), spec: { ...spec(1, 256), image: "full" } })).toMatchObject({ kind: "reject", code: "no-image" });
    expect(judgePlacement(host(), p("x", 5))).toMatchObject({ kind: "reject", code: "too-big" });
    expect(judgePlacement(host(), p("x", 1, 2048))).toMatchObject({ kind: "reject", code: "too-big" });
  });

  it("treats a second message about the same VM as a duplicate, whether it waits or runs (one owner per VM)", () => {
    const waiting = given(host(1), p("a"), p("b"));
    expect(judgePlacement(waiting, p("b"))).toEqual({ kind: "duplicate" });
    expect(judgePlacement(admit(waiting).state, p("a"))).toEqual({ kind: "duplicate" });
    expect(enqueue(waiting, p("b")).queue).toHaveLength(2);
  });

  it("accepts no new work once cordoned, and again after uncordon", () => {
    expect(judgePlacement(cordon(host()), p("x"))).toMatchObject({ kind: "reject", code: "host-cordoned" });
    expect(judgePlacement(uncordon(cordon(host())), p("x"))).toEqual({ kind: "accept" });
  });
});

describe("drain", () => {
  it("finishes what runs and what was already accepted, then deregisters once", () => {
    let s = drain(admit(given(host(1), p("a"), p("b"))).state);
    expect(judgePlacement(s, p("c"))).toMatchObject({ kind: "reject", code: "host-draining" });
    expect(shouldDeregister(s)).toBe(false);
    s = admit(finish(s, "a")).state;
    expect(s.running.map((x) => x.vmId)).toEqual(["b"]);
    s = admit(finish(s, "b")).state;
    expect(shouldDeregister(s)).toBe(true);
    expect(shouldDeregister(deregistered(s))).toBe(false);
  });

  it("deregisters at once when nothing runs", () => {
    expect(shouldDeregister(drain(host()))).toBe(true);
    expect(shouldDeregister(cordon(host()))).toBe(false);
  });
});
