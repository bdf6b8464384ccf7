import { vmIdFor } from "@oneshot/proto";
import { describe, expect, it } from "vitest";
import { NOW, given, hostEvent, lost, placements, queued, registered } from "../testing/fixtures.js";

describe("place: where a queued job goes", () => {
  it("given a host with room, when a job is queued, then it is scheduled there with its deterministic VM id", () => {
    const s = given(registered("h1"), queued("j1", { vcpus: 2, memMiB: 2048 }));
    const [d, ...rest] = s.decide();
    expect(rest).toEqual([]);
    expect(d).toEqual({
      event: {
        type: "JobScheduled",
        data: { jobId: "j1", hostId: "h1", vmId: vmIdFor("j1", 0), attempt: 0, spec: expect.objectContaining({ vcpus: 2, memMiB: 2048 }) },
      },
      subject: "evt.host.h1",
      msgId: "sched:j1:0",
      expectedLastSubjectSeq: 0, // HostRegistered is on evt.host.h1.self: the host subject is empty until its first placement
      correlationId: "c-j1",
      causationId: "e-2", // the JobQueued it reacts to
      occurredAt: NOW,
    });
  });

  it("given a local job, then its script travels in JobScheduled (hostd reads only its own host's subject)", () => {
    const local = queued("loc1", { provider: "local" });
    local.data.script = "echo hi; exit 3";
    const [d] = given(registered("h1"), local).decisions();
    expect(d).toMatchObject({ type: "JobScheduled", data: { jobId: "loc1", script: "echo hi; exit 3" } });
    const [gh] = given(registered("h1"), queued("gh1")).decisions();
    expect(gh?.type === "JobScheduled" && "script" in gh.data).toBe(false);
  });

  it("given hosts of both arches, then each job goes to a host of its own arch", () => {
    const s = given(registered("x1", { arch: "amd64" }), registered("a1", { arch: "arm64" }), queued("ja", { arch: "arm64" }), queued("jx", { arch: "amd64" }));
    expect(placements(s.decisions())).toEqual({ ja: "a1", jx: "x1" });
  });

  it("given a job no registered host could ever hold, then it is JobUnschedulable with the reason", () => {
    const s = given(registered("h1", { vcpus: 8 }), queued("big", { vcpus: 64 }), queued("arm", { arch: "arm64" }));
    expect(s.decisions()).toEqual([
      { type: "JobUnschedulable", data: { jobId: "big", reason: "no amd64 host can hold 64 vCPUs, 1024 MiB, 10 GiB disk, even empty" } },
      { type: "JobUnschedulable", data: { jobId: "arm", reason: "no arm64 host is registered" } },
    ]);
    expect(s.decide()[0]).toMatchObject({ subject: "evt.job.big", msgId: "unsched:big:0", expectedLastSubjectSeq: 2 });
  });

  it("given a job that fits an empty host but no host now, then it waits: no event", () => {
    const s = given(registered("h1", { vcpus: 4 }), queued("a", { vcpus: 3 }))
      .decided()
      .and(queued("b", { vcpus: 2 }));
    expect(s.decisions()).toEqual([]);
    expect(s.state.pending.has("b")).toBe(true);
  });

  it("given no host registered yet, then jobs wait instead of being declared unschedulable", () => {
    expect(given(queued("j1")).decisions()).toEqual([]);
  });

  it("given a half-full host and an empty one, then a small job fills the half-full one (best fit)", () => {
    const s = given(registered("busy", { vcpus: 8 }), queued("a", { vcpus: 6, memMiB: 12000 }))
      .decided()
      .and(registered("empty", { vcpus: 8 }), queued("b", { vcpus: 2, memMiB: 2048 }));
    expect(placements(s.decisions())).toEqual({ b: "busy" });
  });

  it("given a small and a large empty host, then a job that exactly fills the small one goes there (the large one stays whole)", () => {
    const s = given(
      registered("large", { vcpus: 32, memMiB: 65536 }),
      registered("small", { vcpus: 4, memMiB: 8192 }),
      queued("a", { vcpus: 4, memMiB: 8192 }),
    );
    expect(placements(s.decisions())).toEqual({ a: "small" });
  });

  it("given a host out of memory but with vCPUs left, then a job needing memory goes elsewhere (every resource counts)", () => {
    const s = given(registered("h1", { vcpus: 8, memMiB: 4096 }), registered("h2", { vcpus: 8, memMiB: 4096 }), queued("a", { vcpus: 1, memMiB: 4096 }))
      .decided()
      .and(queued("b", { vcpus: 1, memMiB: 1024 }));
    const a = s.placementOf("a").hostId;
    expect(placements(s.decisions()).b).not.toBe(a);
  });

  it("given several jobs for one host, then each decision expects the host subject's last sequence (the loop chains them)", () => {
    const s = given(registered("h1"), queued("a"), queued("b"));
    expect(s.decide().map((d) => [d.msgId, d.expectedLastSubjectSeq])).toEqual([
      ["sched:a:0", 0],
      ["sched:b:0", 0],
    ]);
  });

  it("given a placement already in the log, then the job is not placed again", () => {
    expect(given(registered("h1"), queued("a")).decided().decisions()).toEqual([]);
  });

  it("given a job that asks for a label, then only a host with that label takes it; runs-on boilerplate is no constraint", () => {
    const s = given(
      registered("plain"),
      registered("gpu", { labels: ["GPU", "ssd"] }),
      queued("needs-gpu", { labels: ["self-hosted", "linux", "x64", "oneshot-2cpu-4gb", "gpu"] }),
      queued("any", { labels: ["self-hosted", "oneshot-2cpu-4gb"] }),
      queued("needs-tpu", { labels: ["tpu"] }),
    );
    const d = s.decisions();
    expect(placements(d)["needs-gpu"]).toBe("gpu");
    expect(placements(d).any).toBeDefined();
    expect(d).toContainEqual({ type: "JobUnschedulable", data: { jobId: "needs-tpu", reason: "no amd64 host with labels [tpu] is registered" } });
  });
});

describe("place: hosts that take no new work", () => {
  const base = given(registered("h1"), registered("h2"));
  for (const [what, event] of [
    ["cordoned", hostEvent("HostCordoned", "h1")],
    ["draining", hostEvent("HostDrained", "h1")],
    ["lost", lost("h1")],
  ] as const) {
    it(`given h1 ${what}, then jobs go only to h2`, () => {
      const s = base.and(event, queued("a"), queued("b"), queued("c"));
      expect(new Set(Object.values(placements(s.decisions())))).toEqual(new Set(["h2"]));
    });
  }

  it("given the only host cordoned, then the job waits (it could fit once uncordoned), and is placed after HostUncordoned", () => {
    const s = given(registered("h1"), hostEvent("HostCordoned", "h1"), queued("a"));
    expect(s.decisions()).toEqual([]);
    expect(placements(s.and(hostEvent("HostUncordoned", "h1")).decisions())).toEqual({ a: "h1" });
  });

  it("given a cordoned host re-registers (hostd restarted), then it stays cordoned", () => {
    const s = given(registered("h1"), hostEvent("HostCordoned", "h1"), registered("h1"), queued("a"));
    expect(s.decisions()).toEqual([]);
  });

  it("given a lost host registers again, then it takes work again", () => {
    expect(placements(given(registered("h1"), lost("h1"), registered("h1"), queued("a")).decisions())).toEqual({ a: "h1" });
  });

  it("given the only big host deregistered, then a big job is unschedulable", () => {
    const s = given(registered("small", { vcpus: 2 }), registered("big", { vcpus: 32 }), hostEvent("HostDeregistered", "big"), queued("j", { vcpus: 16 }));
    expect(s.decisions()[0]?.type).toBe("JobUnschedulable");
  });
});
