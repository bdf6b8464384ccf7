import { describe, expect, it } from "vitest";
import { fenced, given, placements, queued, registered, started, vmDestroyed } from "../testing/fixtures.js";

const burst = (org: string, n: number, from = 0) => Array.from({ length: n }, (_, i) => queued(`${org}-${from + i}`, { org, vcpus: 1 }));

describe("fairness: FIFO within an org, round-robin across orgs", () => {
  it("given one org's burst of 500 queued before another org's single job, when 2 slots are free, then each org gets one", () => {
    const s = given(registered("h1", { vcpus: 2 }), ...burst("big", 500), queued("small-0", { org: "small", vcpus: 1 }));
    expect(placements(s.decisions())).toEqual({ "big-0": "h1", "small-0": "h1" });
  });

  it("given a full host, when slots free one at a time, then orgs take turns instead of the oldest job always winning", () => {
    let s = given(registered("h1", { vcpus: 1 }), ...burst("a", 5), ...burst("b", 3)).decided();
    const order: string[] = [];
    for (let i = 0; i < 6; i++) {
      const running = [...s.state.jobs.values()].find((j) => j.phase === "placed")!.jobId;
      order.push(running);
      // Its runner ran it (a provider job's VM ends after its one job), then the VM is destroyed.
      const vm = s.placementOf(running);
      s = s.and(started(running, vm), vmDestroyed(vm)).decided();
    }
    expect(order).toEqual(["a-0", "b-0", "a-1", "b-1", "a-2", "b-2"]);
  });

  it("given one org, then its jobs are placed in the order they were queued", () => {
    const s = given(registered("h1", { vcpus: 3 }), ...burst("a", 10));
    expect(Object.keys(placements(s.decisions()))).toEqual(["a-0", "a-1", "a-2"]);
  });

  it("given a requeued job, then it keeps its place at the front of its org's line", () => {
    let s = given(registered("h1", { vcpus: 1 }), registered("h2", { vcpus: 1 }), ...burst("a", 2))
      .decided()
      .and(...burst("a", 3, 2));
    const first = s.placementOf("a-0");
    s = s.and({ type: "HostLost", data: { hostId: first.hostId, lastSeenAt: null, reason: "gone" } }, fenced(first.hostId), {
      type: "HostRegistered",
      data: { ...registeredData(first.hostId) },
    });
    expect(placements(s.decided().decisions())).toEqual({ "a-0": first.hostId });
  });

  it("given a big job at the head of an org's line that fits nowhere now, then smaller jobs behind it still run", () => {
    const s = given(registered("h1", { vcpus: 4 }), queued("x", { vcpus: 3 }))
      .decided()
      .and(queued("big", { vcpus: 4 }), queued("small", { vcpus: 1 }));
    expect(placements(s.decisions())).toEqual({ small: "h1" });
  });
});

function registeredData(hostId: string) {
  return registered(hostId, { vcpus: 1 }).data;
}
