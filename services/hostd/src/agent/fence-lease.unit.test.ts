import { describe, expect, it } from "vitest";
import { fenced, mustFence, newLease, remainingMs, renew } from "./fence-lease.js";

describe("the host's fence lease", () => {
  it("given heartbeats acknowledged in time, then it never fences", () => {
    let l = newLease(30_000, 0);
    for (let t = 5_000; t <= 600_000; t += 5_000) {
      expect(mustFence(l, t)).toBe(false);
      l = renew(l, t);
    }
  });

  it("given no acknowledged heartbeat for the lease, then it fences once, and a renewal re-arms it", () => {
    let l = renew(newLease(30_000, 0), 10_000);
    expect(mustFence(l, 39_999)).toBe(false);
    expect(mustFence(l, 40_000)).toBe(true);
    l = fenced(l, 40_000);
    expect(mustFence(l, 90_000)).toBe(false);
    l = renew(l, 95_000);
    expect(mustFence(l, 124_999)).toBe(false);
    expect(mustFence(l, 125_000)).toBe(true);
  });

  it("given an ack that arrives after a freeze for a heartbeat sent before it, then the lease counts from the send, and has run out", () => {
    // Sent at 10 s, the process is frozen for 60 s, the ack is read at 70 s.
    const l = renew(newLease(30_000, 0), 10_000);
    expect(remainingMs(l, 70_000)).toBe(-30_000);
    expect(mustFence(l, 70_000)).toBe(true);
  });

  it("given an ack for an older heartbeat than the last renewal, then nothing changes", () => {
    const l = renew(newLease(30_000, 0), 20_000);
    expect(renew(l, 15_000)).toBe(l);
  });

  it("given a renewal for a heartbeat sent before the fence began, then the fence stays done (it does not re-arm)", () => {
    const l = fenced(renew(newLease(30_000, 0), 10_000), 41_000);
    expect(renew(l, 40_500).fencedAt).toBe(41_000);
  });
});
