import { vmIdFor } from "@oneshot/proto";
import { describe, expect, it } from "vitest";
import {
  NOW,
  fenced,
  given,
  jobEvent,
  lost,
  placements,
  queued,
  registered,
  started,
  vmBootFailed,
  vmBooted,
  vmDestroyed,
  vmRetired,
  vmVanished,
} from "../testing/fixtures.js";

// docs/runner-model.md, the scheduler's rules: who runs where is the provider's fact.

const two = given(registered("h1"), queued("c"), queued("d")).decided();
const vc = two.placementOf("c");
const vd = two.placementOf("d");
const at = (sec: number) => new Date(Date.parse(NOW) + sec * 1000).toISOString();

describe("rule 1–2: a runner takes another job's VM", () => {
  it("given C and D each with a VM, when D starts on C's VM, then C is rebound to D's VM (no new boot)", () => {
    const s = two.and(started("d", vc));
    expect(s.state.jobs.get("c")).toMatchObject({ phase: "released", outcome: { kind: "displaced", byJobId: "d", vmId: vc.vmId } });
    const [rebind] = s.decide();
    expect(rebind).toMatchObject({
      subject: "evt.job.c",
      msgId: `rebind:c:${vd.vmId}`,
      expectedLastSubjectSeq: s.state.jobs.get("c")!.subjectSeq,
      event: { type: "JobRebound", data: { jobId: "c", hostId: "h1", vmId: vd.vmId, fromVmId: vc.vmId } },
    });
    expect(s.decide()).toHaveLength(1);
    const after = s.decided();
    expect(after.state.jobs.get("c")).toMatchObject({ phase: "placed", vmId: vd.vmId, attempt: 0, bootFailures: 0 });
    expect(after.and(started("c", vd)).decisions()).toEqual([]);
  });

  it("given the start names the VM without its host, then the VM is found by its id", () => {
    expect(two.and(started("d", vc, false)).decisions()).toEqual([
      expect.objectContaining({ type: "JobRebound", data: expect.objectContaining({ jobId: "c", vmId: vd.vmId }) }),
    ]);
  });

  it("given D had no VM (its JobQueued not read yet), when D starts on C's VM, then C is requeued uncounted and a late JobQueued for D boots nothing", () => {
    const s = given(registered("h1"), queued("c")).decided().and(started("d", vc));
    expect(s.decisions()).toEqual([
      { type: "JobRequeued", data: { jobId: "c", fromHostId: "h1", vmId: vc.vmId, reason: `its VM ${vc.vmId} on h1 ran d`, attempt: 1, releasesVm: false } },
    ]);
    const late = s.decided().and(queued("d"));
    expect(late.state.jobs.get("c")!.bootFailures).toBe(0);
    expect(late.state.jobs.get("d")!.phase).toBe("started");
    expect(late.decisions()).toEqual([
      expect.objectContaining({ type: "JobScheduled", data: expect.objectContaining({ jobId: "c", attempt: 1, vmId: vmIdFor("c", 1) }) }),
    ]);
    // The requeue kept C's first VM: it runs D and frees at its VmDestroyed.
    expect(late.state.hosts.get("h1")!.used.vcpus).toBe(1);
  });

  it("given a job started, then it is never placed again, even when requeued by an old event", () => {
    const s = two.and(started("c", vc), {
      type: "JobRequeued",
      data: { jobId: "c", fromHostId: "h1", vmId: vc.vmId, reason: "old", attempt: 1, releasesVm: false },
    });
    expect(s.state.jobs.get("c")!.phase).toBe("started");
    expect(s.decisions()).toEqual([]);
  });
});

describe("rules 3–4: free VMs are rebound before booting, else declared idle once", () => {
  it("given C is cancelled before pickup and E waits, then E takes C's VM instead of a new one", () => {
    const s = given(registered("h1"), queued("c")).decided().and(jobEvent("JobCancelled", "c"), queued("e"));
    expect(s.decide()).toEqual([expect.objectContaining({ msgId: `rebind:e:${vc.vmId}`, event: expect.objectContaining({ type: "JobRebound" }) })]);
    expect(placements(s.decisions())).toEqual({});
  });

  it("given C is cancelled before pickup and nothing waits, then its VM is VmIdle on the host subject, once", () => {
    const s = given(registered("h1"), queued("c")).decided().and(jobEvent("JobCancelled", "c"));
    const [d] = s.decide();
    expect(d).toMatchObject({
      subject: "evt.host.h1",
      msgId: `idle:h1:${vc.vmId}`,
      expectedLastSubjectSeq: s.state.hostSubjectSeq.get("h1"),
      event: { type: "VmIdle", data: { hostId: "h1", vmId: vc.vmId, bootedForJobId: "c", runnerName: `oneshot-h1-${vc.vmId}`, candidateJobIds: [] } },
    });
    expect((d!.event.data as { reason: string }).reason).toMatch(/booted for c; c ended \(JobCancelled\)/);
    expect(s.decided().decisions()).toEqual([]);
  });

  it("given a runner whose label set does not cover the waiting job, then the job boots its own VM and the free VM idles", () => {
    const s = given(registered("h1", { labels: ["gpu"] }), queued("c"))
      .decided()
      .and(jobEvent("JobCancelled", "c"), queued("g", { labels: ["self-hosted", "gpu"] }));
    expect(s.decisions().map((e) => e.type)).toEqual(["JobScheduled", "VmIdle"]);
  });

  it("given a VM booted 601 s ago that no job started on, then VmIdle (idle deadline) naming its claim as candidate; at 599 s nothing", () => {
    const s = given(registered("h1"), queued("c")).decided().and(vmBooted(vc));
    expect(s.decisions({}, at(599))).toEqual([]);
    const [d] = s.decisions({}, at(601));
    expect(d).toMatchObject({ type: "VmIdle", data: { vmId: vc.vmId, candidateJobIds: ["c"] } });
    expect((d!.data as { reason: string }).reason).toMatch(/^idle deadline/);
    expect(s.decided({}, at(601)).decisions({}, at(700))).toEqual([]);
  });

  it("given an idle-deadline VM is retired, then its claim is requeued without counting against it", () => {
    const s = given(registered("h1"), queued("c")).decided().and(vmBooted(vc)).decided({}, at(601)).and(vmRetired(vc));
    expect(s.decisions()).toEqual([
      expect.objectContaining({ type: "JobRequeued", data: expect.objectContaining({ jobId: "c", attempt: 1, releasesVm: false }) }),
    ]);
    expect(s.state.jobs.get("c")!.bootFailures).toBe(0);
    expect(s.state.hosts.get("h1")!.used.vcpus).toBe(1); // until VmDestroyed
  });
});

describe("rule 2: a VM that ended without running anything", () => {
  it("given a GitHub job's VM is destroyed before any runner started, then it is requeued, and failed after SCHEDULER_MAX_ATTEMPTS", () => {
    let s = given(registered("h1"), queued("c")).decided();
    for (let attempt = 0; attempt < 2; attempt++) {
      const vm = s.placementOf("c");
      s = s.and(vmDestroyed(vm));
      expect(s.decisions()).toEqual([
        expect.objectContaining({
          type: "JobRequeued",
          data: expect.objectContaining({ attempt: attempt + 1, reason: "VM destroyed before any job ran on it" }),
        }),
      ]);
      s = s.decided().decided();
    }
    const failed = s.and(vmDestroyed(s.placementOf("c")));
    expect(failed.decisions()).toEqual([
      expect.objectContaining({ type: "JobFailed", data: expect.objectContaining({ jobId: "c", reason: expect.stringMatching(/ended unused 3 times/) }) }),
    ]);
  });

  it("given a claimed VM fails to boot while another VM covering the job is free, then the job is rebound to it", () => {
    const s = two.and(jobEvent("JobCancelled", "d"), vmBootFailed(vc), vmDestroyed(vc));
    expect(s.decisions()).toEqual([
      expect.objectContaining({ type: "JobRebound", data: expect.objectContaining({ jobId: "c", vmId: vd.vmId, fromVmId: vc.vmId }) }),
    ]);
  });

  it("given a VM that ran its provider job is destroyed, then nothing (the provider reports the end)", () => {
    expect(two.and(started("c", vc), vmDestroyed(vc)).decisions()).toEqual([]);
  });
});

describe("vanished VMs and lost hosts", () => {
  const local = given(registered("h1"), queued("l", { provider: "local", org: "local" })).decided();
  const vl = local.placementOf("l");

  it("given a local job's VM vanished, then by default it is requeued and its capacity frees", () => {
    const s = local.and(vmVanished(vl));
    expect(s.decisions()).toEqual([
      expect.objectContaining({ type: "JobRequeued", data: expect.objectContaining({ jobId: "l", attempt: 1, releasesVm: false }) }),
    ]);
    expect(s.state.hosts.get("h1")!.used.vcpus).toBe(0);
  });

  it("given SCHEDULER_VANISHED_POLICY=fail, then a local job whose VM vanished is failed", () => {
    expect(local.and(vmVanished(vl)).decisions({ vanishedPolicy: "fail" })).toEqual([
      { type: "JobFailed", data: { jobId: "l", hostId: "h1", vmId: vl.vmId, reason: "VM vanished: not in the host's inventory" } },
    ]);
  });

  it("given a host is lost under a started GitHub job and an unstarted one, then only the unstarted claim is requeued", () => {
    const s = two.and(started("d", vd), registered("h2"), lost("h1"), fenced("h1"));
    expect(s.decisions().map((e) => [e.type, "jobId" in e.data ? e.data.jobId : ""])).toEqual([["JobRequeued", "c"]]);
    expect(s.state.jobs.get("d")!.phase).toBe("started");
    expect(s.state.hosts.get("h1")!.used.vcpus).toBe(0);
  });
});

describe("rule 6 and requeue versions", () => {
  it("given no host has the job's image, then JobUnschedulable says so", () => {
    expect(given(registered("h1"), queued("x", { image: "full" })).decisions()).toEqual([
      { type: "JobUnschedulable", data: { jobId: "x", reason: 'no amd64 host has image "full"' } },
    ]);
  });

  it("given one host has the image, then the job is placed there only", () => {
    const full = registered("h2");
    full.data.images = ["minimal", "full"];
    expect(placements(given(registered("h1"), full, queued("x", { image: "full" })).decisions())).toEqual({ x: "h2" });
  });

  it("given a v2 JobRequeued (releasesVm: false), the VM keeps its capacity; a v1 (upcast to true) frees it", () => {
    const rq = (releasesVm: boolean) => ({
      type: "JobRequeued" as const,
      data: { jobId: "c", fromHostId: "h1", vmId: vc.vmId, reason: "x", attempt: 1, releasesVm },
    });
    expect(two.and(rq(false)).state.hosts.get("h1")!.used.vcpus).toBe(2);
    expect(two.and(rq(true)).state.hosts.get("h1")!.used.vcpus).toBe(1);
  });
});
