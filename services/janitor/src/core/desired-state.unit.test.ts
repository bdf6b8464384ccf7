import { describe, expect, it } from "vitest";
import { evolve, forgetBefore, initialDesired } from "./desired-state.js";
import { Log, sec } from "./scenario.test-kit.js";

const H = "metal-01";

describe("desired state", () => {
  it("given a placement, boot and completion, then the VM ended with the completion as cause and time", () => {
    const d = new Log().registered(0, H).running(1, "j1", "vm1", H)
      .add(50, { type: "JobCompleted", data: { jobId: "j1", conclusion: "failure", exitCode: 3, reportedBy: "vm" } }).desired();
    const vm = d.vms.get("vm1")!;
    expect(vm).toMatchObject({ jobId: "j1", hostId: H, timeoutSec: 600, bootedAt: sec(1), ended: { cause: "job-completed", at: sec(50) } });
    expect(d.jobs.get("j1")).toMatchObject({ status: "completed", currentVmId: undefined });
  });

  it("keeps the first end cause: a later VmDestroyed does not move the destroy grace", () => {
    const d = new Log().registered(0, H).running(1, "j1", "vm1", H)
      .add(10, { type: "VmExited", data: { jobId: "j1", vmId: "vm1", hostId: H, exitCode: 0, reason: "exited", runMs: 1 } })
      .add(90, { type: "VmDestroyed", data: { jobId: "j1", vmId: "vm1", hostId: H, removed: [] } }).desired();
    expect(d.vms.get("vm1")!.ended).toMatchObject({ cause: "vm-exited", at: sec(10) });
  });

  it("only moves a job forward: a JobQueued delivered after its completion does not revive it", () => {
    const log = new Log().add(1, { type: "JobCompleted", data: { jobId: "j1", conclusion: "success", exitCode: 0, reportedBy: "provider" } }).queued(2, "j1");
    expect(log.desired().jobs.get("j1")!.status).toBe("completed");
  });

  it("ends a placement made for a job that had already ended", () => {
    const d = new Log().registered(0, H).add(1, { type: "JobCancelled", data: { jobId: "j1", reason: "before start" } }).scheduled(2, "j1", "vm1", H).desired();
    expect(d.vms.get("vm1")!.ended?.cause).toBe("job-cancelled");
  });

  it("tracks the job subject's last sequence but not the host subject's placements", () => {
    const log = new Log().registered(0, H).queued(0, "j1").add(1, { type: "JobStarted", data: { jobId: "j1" } }).scheduled(2, "j1", "vm1", H);
    expect(log.desired().jobs.get("j1")!.lastSeq).toBe(3);
  });

  it("is idempotent: applying every event twice gives the same state", () => {
    const log = new Log().registered(0, H).running(1, "j1", "vm1", H)
      .add(5, { type: "ReclaimRequested", data: { hostId: H, reclaimId: "r1", reason: "x", resources: [{ kind: "tap", name: "os-zz" }] } })
      .add(6, { type: "ResourceReclaimed", data: { hostId: H, reclaimId: "r1", reclaimed: [], failed: [{ kind: "tap", name: "os-zz", error: "busy" }] } })
      .add(7, { type: "HostLost", data: { hostId: H, lastSeenAt: null, reason: "x" } });
    const once = log.desired();
    const twice = log.events.reduce((s, e) => evolve(evolve(s, e), e), initialDesired());
    expect(twice).toEqual(once);
    expect(once.reclaimsByResource.get(`${H}|tap:os-zz`)).toEqual(["r1"]);
    expect(once.reclaims.get("r1")!.answer!.failed.get("tap:os-zz")).toBe("busy");
  });

  it("marks a host lost until it registers again", () => {
    const log = new Log().registered(0, H).add(10, { type: "HostLost", data: { hostId: H, lastSeenAt: null, reason: "x" } });
    expect(log.desired().hosts.get(H)!.lost).toEqual({ at: sec(10), seq: 2 });
    expect(log.registered(20, H).desired().hosts.get(H)!.lost).toBeUndefined();
  });

  it("forgets VMs that ended and reclaims answered before a time, keeping the rest", () => {
    const d = new Log().registered(0, H).running(1, "j1", "vm1", H).running(1, "j2", "vm2", H)
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
