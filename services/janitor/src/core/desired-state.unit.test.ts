import { describe, expect, it } from "vitest";
import { evolve, forgetBefore, initialDesired } from "./desired-state.js";
import { Log, sec } from "./scenario.test-kit.js";

const H = "metal-01";

describe("desired state", () => {
  it("given a placement, boot and completion, then the VM ended with the completion as cause and time", () => {
    const d = new Log()
      .registered(0, H)
      .running(1, "j1", "vm1", H)
      .add(50, { type: "JobCompleted", data: { jobId: "j1", conclusion: "failure", exitCode: 3, reportedBy: "vm" } })
      .desired();
    const vm = d.vms.get("vm1")!;
    expect(vm).toMatchObject({ jobId: "j1", hostId: H, timeoutSec: 600, bootedAt: sec(1), ended: { cause: "job-completed", at: sec(50) } });
    expect(d.jobs.get("j1")).toMatchObject({ status: "completed", claimVmId: undefined, ranOnVmIds: ["vm1"] });
  });

  it("keeps the first end cause: a later VmDestroyed does not move the destroy grace", () => {
    const d = new Log()
      .registered(0, H)
      .running(1, "j1", "vm1", H)
      .add(10, { type: "VmExited", data: { jobId: "j1", vmId: "vm1", hostId: H, exitCode: 0, reason: "exited", runMs: 1 } })
      .add(90, { type: "VmDestroyed", data: { jobId: "j1", vmId: "vm1", hostId: H, removed: [] } })
      .desired();
    expect(d.vms.get("vm1")!.ended).toMatchObject({ cause: "vm-exited", at: sec(10) });
  });

  it("only moves a job forward: a JobQueued delivered after its completion does not revive it", () => {
    const log = new Log().add(1, { type: "JobCompleted", data: { jobId: "j1", conclusion: "success", exitCode: 0, reportedBy: "provider" } }).queued(2, "j1");
    expect(log.desired().jobs.get("j1")!.status).toBe("completed");
  });

  it("ends a local job's placement made after the job had ended; any other placement's runner may still take a job", () => {
    const cancelled = () => new Log().registered(0, H).add(1, { type: "JobCancelled", data: { jobId: "j1", reason: "before start" } });
    expect(cancelled().scheduled(2, "j1", "vm1", H, { script: "true" }).desired().vms.get("vm1")!.ended?.cause).toBe("job-cancelled");
    const d = cancelled().scheduled(2, "j1", "vm1", H).desired();
    expect(d.vms.get("vm1")).toMatchObject({ ended: undefined, claimJobId: undefined, runningJobId: undefined });
  });

  it("records the running job from JobStarted's vmId alone (hostId absent), and the claim moves with it", () => {
    const d = new Log().registered(0, H).bootedFor(1, "jA", "vma", H).bootedFor(1, "jB", "vmb", H).started(10, "jA", "vmb").desired();
    expect(d.vms.get("vmb")).toMatchObject({ jobId: "jB", runningJobId: "jA", runningSince: sec(10), claimJobId: "jA" });
    expect(d.vms.get("vma")).toMatchObject({ runningJobId: undefined, claimJobId: undefined }); // free now
    expect(d.jobs.get("jA")).toMatchObject({ claimVmId: "vmb", ranOnVmIds: ["vmb"] });
    expect(d.jobs.get("jB")).toMatchObject({ claimVmId: undefined }); // displaced
  });

  it("ends only the VM a job ran on, whatever it was booted for", () => {
    const d = new Log()
      .registered(0, H)
      .bootedFor(1, "jA", "vma", H)
      .bootedFor(1, "jB", "vmb", H)
      .started(10, "jA", "vmb")
      .started(11, "jB", "vma")
      .completed(50, "jA")
      .desired();
    expect(d.vms.get("vmb")!.ended).toMatchObject({ cause: "job-completed", at: sec(50) });
    expect(d.vms.get("vma")!.ended).toBeUndefined();
  });

  it("does not end a VM its job only claimed: booted for it, or rebound to it", () => {
    const d = new Log()
      .registered(0, H)
      .bootedFor(1, "j1", "vm1", H)
      .bootedFor(1, "j2", "vm2", H)
      .completed(20, "j1")
      .queued(30, "j3")
      .rebound(40, "j3", "vm1", H)
      .add(50, { type: "JobFailed", data: { jobId: "j3", reason: "x" } })
      .add(60, { type: "JobCancelled", data: { jobId: "j2", reason: "user" } })
      .desired();
    expect(d.vms.get("vm1")!.ended).toBeUndefined();
    expect(d.vms.get("vm2")!.ended).toBeUndefined();
  });

  it("records a rebound claim and its time; the VM the job claimed before lets go", () => {
    const d = new Log()
      .registered(0, H)
      .bootedFor(1, "j1", "vm1", H)
      .bootedFor(1, "j2", "vm2", H)
      .completed(20, "j1")
      .rebound(40, "j2", "vm1", H, "vm2")
      .desired();
    expect(d.vms.get("vm1")).toMatchObject({ claimJobId: "j2", claimedAt: sec(40) });
    expect(d.vms.get("vm2")).toMatchObject({ claimJobId: undefined });
    expect(d.jobs.get("j2")!.claimVmId).toBe("vm1");
  });

  it("ends a VM on a late JobStarted of a job that already completed (the reconciler found it ran there)", () => {
    const d = new Log().registered(0, H).bootedFor(1, "j1", "vm1", H).completed(20, "j1").started(30, "j1", "vm1").desired();
    expect(d.vms.get("vm1")!.ended).toMatchObject({ cause: "job-completed", at: sec(30) });
  });

  it("JobRequeued v1 (upcast: releasesVm true) ends the named VM; v2 with releasesVm false only drops the claim", () => {
    const requeued = (releasesVm: boolean) =>
      new Log()
        .registered(0, H)
        .bootedFor(1, "j1", "vm1", H)
        .add(10, { type: "JobRequeued", data: { jobId: "j1", fromHostId: H, vmId: "vm1", reason: "r", attempt: 1, releasesVm } })
        .desired();
    expect(requeued(true).vms.get("vm1")!.ended).toMatchObject({ cause: "job-requeued", at: sec(10) });
    const v2 = requeued(false);
    expect(v2.vms.get("vm1")).toMatchObject({ ended: undefined, claimJobId: undefined });
    expect(v2.jobs.get("j1")!.claimVmId).toBeUndefined();
  });

  it("ends a VM at VmRetired and at VmVanished; VmIdle ends nothing", () => {
    const log = new Log()
      .registered(0, H)
      .running(1, "j1", "vm1", H)
      .running(1, "j2", "vm2", H)
      .running(1, "j3", "vm3", H)
      .add(10, { type: "VmIdle", data: { hostId: H, vmId: "vm1", bootedForJobId: "j1", runnerName: "r", reason: "x", candidateJobIds: [] } })
      .add(20, { type: "VmRetired", data: { hostId: H, vmId: "vm2", reason: "runner removed" } })
      .add(30, { type: "VmVanished", data: { hostId: H, vmId: "vm3", jobId: "j3", reason: "gone" } });
    const d = log.desired();
    expect(d.vms.get("vm1")!.ended).toBeUndefined();
    expect(d.vms.get("vm2")!.ended).toMatchObject({ cause: "vm-retired", at: sec(20) });
    expect(d.vms.get("vm3")!.ended).toMatchObject({ cause: "vm-vanished", at: sec(30) });
  });

  it("tracks the job subject's last sequence but not the host subject's placements", () => {
    const log = new Log()
      .registered(0, H)
      .queued(0, "j1")
      .add(1, { type: "JobStarted", data: { jobId: "j1", reportedBy: "webhook" } })
      .scheduled(2, "j1", "vm1", H);
    expect(log.desired().jobs.get("j1")!.lastSeq).toBe(3);
  });

  it("is idempotent: applying every event twice gives the same state", () => {
    const log = new Log()
      .registered(0, H)
      .running(1, "j1", "vm1", H)
      .bootedFor(1, "j2", "vm2", H)
      .started(2, "j1", "vm2")
      .rebound(3, "j2", "vm1", H)
      .add(4, { type: "JobRequeued", data: { jobId: "j2", fromHostId: H, vmId: "vm1", reason: "r", attempt: 1, releasesVm: false } })
      .add(5, { type: "ReclaimRequested", data: { hostId: H, reclaimId: "r1", reason: "x", resources: [{ kind: "tap", name: "os-zz" }] } })
      .add(6, { type: "ResourceReclaimed", data: { hostId: H, reclaimId: "r1", reclaimed: [], failed: [{ kind: "tap", name: "os-zz", error: "busy" }] } })
      .add(7, { type: "HostLost", data: { hostId: H, lastSeenAt: null, reason: "x" } });
    const once = log.desired();
    const twice = log.events.reduce((s, e) => evolve(evolve(s, e), e), initialDesired());
    expect(twice).toEqual(once);
    expect(once.reclaimsByResource.get(`${H}|tap:os-zz`)).toEqual(["r1"]);
    expect(once.reclaims.get("r1")!.answer!.failed.get("tap:os-zz")).toBe("busy");
  });

  it("given a host lost, then its VMs live on until it fenced or its lease ran out (they may still run)", () => {
    const log = new Log()
      .registered(0, H)
      .running(1, "j1", "vm1", H)
      .add(10, { type: "HostLost", data: { hostId: H, lastSeenAt: null, reason: "x" } });
    expect(log.desired().vms.get("vm1")!.ended).toBeUndefined();
    const expired = log.add(40, { type: "HostLeaseExpired", data: { hostId: H, registeredSeq: 1, lostSeq: 6, waitedSec: 30, reason: "y" } }).desired();
    expect(expired.vms.get("vm1")!.ended).toMatchObject({ cause: "host-lost", at: sec(40) });
  });

  it("marks a host lost until it registers again", () => {
    const log = new Log().registered(0, H).add(10, { type: "HostLost", data: { hostId: H, lastSeenAt: null, reason: "x" } });
    expect(log.desired().hosts.get(H)!.lost).toEqual({ at: sec(10), seq: 2, reason: "x" });
    expect(log.registered(20, H).desired().hosts.get(H)!.lost).toBeUndefined();
  });

  it("forgets VMs that ended and reclaims answered before a time, keeping the rest", () => {
    const d = new Log()
      .registered(0, H)
      .running(1, "j1", "vm1", H)
      .running(1, "j2", "vm2", H)
      .add(10, { type: "JobCompleted", data: { jobId: "j1", conclusion: "success", exitCode: 0, reportedBy: "vm" } })
      .add(11, { type: "ReclaimRequested", data: { hostId: H, reclaimId: "r1", reason: "x", resources: [{ kind: "tap", name: "os-zz" }] } })
      .add(12, { type: "ResourceReclaimed", data: { hostId: H, reclaimId: "r1", reclaimed: [{ kind: "tap", name: "os-zz" }], failed: [] } })
      .desired();
    expect(forgetBefore(d, sec(100))).toBe(1);
    expect([...d.vms.keys()]).toEqual(["vm2"]);
    expect([...d.jobs.keys()]).toEqual(["j2"]);
    expect(d.vmsByHost.get(H)).toEqual(new Set(["vm2"]));
    expect(d.reclaims.size).toBe(0);
    expect(d.reclaimsByResource.size).toBe(0);
  });
});
