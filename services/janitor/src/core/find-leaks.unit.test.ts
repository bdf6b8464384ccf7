import { describe, expect, it } from "vitest";
import { findLeaks } from "./find-leaks.js";
import type { Plan } from "./plan.js";
import { Log, Telemetry, allOf, merge, sec, settings } from "./scenario.test-kit.js";

const H = "metal-01";
const reclaimed = (p: Plan) => p.reclaims.flatMap((r) => r.resources.map((x) => `${x.kind}:${x.name}`)).sort();
const causes = (p: Plan) => [...new Set(p.reclaims.flatMap((r) => r.leaks.map((l) => l.cause)))];
const waitingCauses = (p: Plan) => [...new Set(p.waiting.map((l) => l.cause))];
const everything = (vmId: string) => {
  const a = allOf(vmId);
  return [...a.vms!.map((v) => `vm:${v}`), ...a.taps!.map((t) => `tap:${t}`), ...a.disks!.map((d) => `disk:${d}`), ...a.nftRules!.map((n) => `nft:${n}`), ...a.runDirs!.map((r) => `rundir:${r}`)].sort();
};

describe("findLeaks: a VM whose job ended", () => {
  const log = () => new Log().registered(0, H).running(1, "j1", "vm1", H);

  it("given a completed job, when its VM is still reported within the destroy grace, then it waits", () => {
    const desired = log().add(100, { type: "JobCompleted", data: { jobId: "j1", conclusion: "success", exitCode: 0, reportedBy: "vm" } }).desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 109, allOf("vm1")).hosts, sec(109), settings);
    expect(plan.reclaims).toEqual([]);
    expect(waitingCauses(plan)).toEqual(["job-completed"]);
  });

  it("given a completed job, when its VM is still reported after the destroy grace, then everything of it is reclaimed", () => {
    const desired = log().add(100, { type: "JobCompleted", data: { jobId: "j1", conclusion: "success", exitCode: 0, reportedBy: "vm" } }).desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 110, allOf("vm1")).hosts, sec(110), settings);
    expect(reclaimed(plan)).toEqual(everything("vm1"));
    expect(causes(plan)).toEqual(["job-completed"]);
    expect(plan.reclaims[0]!.reason).toMatch(/^job-completed: job j1 completed \(success\)/);
    expect(plan.reclaims[0]!.hostId).toBe(H);
    const completed = desired.vms.get("vm1")!.ended!.eventId;
    expect(plan.reclaims[0]).toMatchObject({ correlationId: "c", causationId: completed });
    expect(plan.jobs).toEqual([]);
  });

  it("given a cancelled job (JobCancelled or a cancelled conclusion), then its VM is reclaimed as job-cancelled", () => {
    const a = log().add(100, { type: "JobCancelled", data: { jobId: "j1", reason: "user" } }).desired();
    const b = log().add(100, { type: "JobCompleted", data: { jobId: "j1", conclusion: "cancelled", exitCode: null, reportedBy: "provider" } }).desired();
    for (const d of [a, b]) {
      const plan = findLeaks(d, new Telemetry().inventory(H, 111, allOf("vm1")).hosts, sec(111), settings);
      expect(causes(plan)).toEqual(["job-cancelled"]);
      expect(reclaimed(plan)).toContain("vm:vm1");
    }
  });

  it("given a requeued attempt, then the old attempt's VM is reclaimed and the new one kept", () => {
    const desired = log()
      .add(50, { type: "JobRequeued", data: { jobId: "j1", fromHostId: H, vmId: "vm1", reason: "boot failed", attempt: 1 } })
      .scheduled(51, "j1", "vm2", H, { attempt: 1 }).bootRequested(52, "j1", "vm2", H).booted(53, "j1", "vm2", H)
      .desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 70, merge(allOf("vm1"), allOf("vm2"))).hosts, sec(70), settings);
    expect(reclaimed(plan)).toEqual(everything("vm1"));
    expect(causes(plan)).toEqual(["job-requeued"]);
  });
});

describe("findLeaks: a VM past its job's timeout", () => {
  const log = () => new Log().registered(0, H).running(10, "j1", "vm1", H, { timeoutSec: 60 });

  it("given a VM still running at timeout + boot grace - 1s, then it waits", () => {
    const plan = findLeaks(log().desired(), new Telemetry().inventory(H, 10 + 60 + 119, allOf("vm1")).hosts, sec(189), settings);
    expect(plan.reclaims).toEqual([]);
    expect(plan.jobs).toEqual([]);
    expect(waitingCauses(plan)).toEqual(["past-timeout"]);
  });

  it("given a VM still running at timeout + boot grace, then it is reclaimed and its job failed", () => {
    const desired = log().desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 10 + 60 + 120, allOf("vm1")).hosts, sec(190), settings);
    expect(reclaimed(plan)).toEqual(everything("vm1"));
    expect(causes(plan)).toEqual(["past-timeout"]);
    expect(plan.jobs).toHaveLength(1);
    expect(plan.jobs[0]!.event.type).toBe("JobFailed");
    expect(plan.jobs[0]!.event.data.reason).toMatch(/past-timeout: VM vm1 is past its job's timeout of 60s/);
    expect(plan.jobs[0]!.expectedLastSubjectSeq).toBe(desired.jobs.get("j1")!.lastSeq);
  });
});

describe("findLeaks: a VM unknown to the log", () => {
  it("given a VM first reported now, when the boot grace has not passed since, then it waits", () => {
    const t = new Telemetry().inventory(H, 0, allOf("stray1")).inventory(H, 119, allOf("stray1"));
    const plan = findLeaks(new Log().registered(0, H).desired(), t.hosts, sec(119), settings);
    expect(plan.reclaims).toEqual([]);
    expect(waitingCauses(plan)).toEqual(["unknown-vm"]);
  });

  it("given a VM reported for the whole boot grace, then all of it is reclaimed as unknown-vm", () => {
    const t = new Telemetry().inventory(H, 0, allOf("stray1")).inventory(H, 60, allOf("stray1")).inventory(H, 120, allOf("stray1"));
    const plan = findLeaks(new Log().registered(0, H).desired(), t.hosts, sec(120), settings);
    expect(reclaimed(plan)).toEqual(everything("stray1"));
    expect(causes(plan)).toEqual(["unknown-vm"]);
    expect(plan.reclaims[0]!.reason).toMatch(/unknown to the event log/);
  });

  it("given a resource that disappeared from one inventory and came back, then its grace starts again", () => {
    const t = new Telemetry().inventory(H, 0, { taps: ["os-stray2"] }).inventory(H, 60, {}).inventory(H, 130, { taps: ["os-stray2"] });
    const plan = findLeaks(new Log().registered(0, H).desired(), t.hosts, sec(130), settings);
    expect(plan.reclaims).toEqual([]);
    expect(waitingCauses(plan)).toEqual(["unknown-vm"]);
  });
});

describe("findLeaks: a tap, disk, nft rule or run dir with no live VM", () => {
  it("given a VM the log says was destroyed, when its tap, disk, rule and dir remain past the destroy grace, then they are reclaimed", () => {
    const desired = new Log().registered(0, H).running(1, "j1", "vm1", H)
      .add(20, { type: "VmExited", data: { jobId: "j1", vmId: "vm1", hostId: H, exitCode: 0, reason: "exited", runMs: 1 } })
      .add(21, { type: "VmDestroyed", data: { jobId: "j1", vmId: "vm1", hostId: H, removed: [] } }).desired();
    const left = { taps: ["os-vm1"], disks: ["/s/hostd/vms/vm1/root.qcow2"], nftRules: ["oneshot:vm1"], runDirs: ["/s/hostd/vms/vm1"] };
    const early = findLeaks(desired, new Telemetry().inventory(H, 29, left).hosts, sec(29), settings);
    expect(early.reclaims).toEqual([]);
    const plan = findLeaks(desired, new Telemetry().inventory(H, 30, left).hosts, sec(30), settings);
    expect(reclaimed(plan)).toEqual(["disk:/s/hostd/vms/vm1/root.qcow2", "nft:oneshot:vm1", "rundir:/s/hostd/vms/vm1", "tap:os-vm1"]);
    expect(causes(plan)).toEqual(["vm-exited"]);
  });

  it("given an orphan disk and an orphan tap of VM ids the log never had, then they are reclaimed after the boot grace", () => {
    const left = { taps: ["os-zz1"], disks: ["/s/hostd/vms/zz2/root.qcow2"] };
    const t = new Telemetry().inventory(H, 0, left).inventory(H, 120, left);
    const plan = findLeaks(new Log().registered(0, H).desired(), t.hosts, sec(120), settings);
    expect(reclaimed(plan)).toEqual(["disk:/s/hostd/vms/zz2/root.qcow2", "tap:os-zz1"]);
    expect(plan.reclaims).toHaveLength(2); // one request per VM id
  });

  it("given a booting VM whose tap and disk exist before its process, then nothing is reclaimed within the boot grace", () => {
    const desired = new Log().registered(0, H).queued(0, "j1").scheduled(0, "j1", "vm1", H).bootRequested(1, "j1", "vm1", H).desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 120, { taps: ["os-vm1"], disks: ["/s/hostd/vms/vm1/root.qcow2"] }).hosts, sec(120), settings);
    expect(plan.reclaims).toEqual([]);
    expect(plan.jobs).toEqual([]);
  });

  it("given a VM placed but not yet taken by hostd, then nothing about it is judged", () => {
    const desired = new Log().registered(0, H).queued(0, "j1").scheduled(0, "j1", "vm1", H).desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 1000, { taps: ["os-vm1"] }).hosts, sec(1000), settings);
    expect(plan).toEqual({ reclaims: [], stuck: [], jobs: [], waiting: [] });
  });
});

describe("findLeaks: a VM the log says exists but the host does not report", () => {
  const log = () => new Log().registered(0, H).running(10, "j1", "vm1", H);

  it("given a running VM missing from an inventory taken within the destroy grace of its boot, then nothing happens", () => {
    const plan = findLeaks(log().desired(), new Telemetry().inventory(H, 19, {}).hosts, sec(40), settings);
    expect(plan.jobs).toEqual([]);
  });

  it("given a running VM that an inventory listed at 25s, when later inventories lack it for less than the destroy grace, then it waits", () => {
    const t = new Telemetry().inventory(H, 25, allOf("vm1")).inventory(H, 34, {});
    expect(findLeaks(log().desired(), t.hosts, sec(34), settings).jobs).toEqual([]);
    t.inventory(H, 35, {});
    expect(findLeaks(log().desired(), t.hosts, sec(35), settings).jobs).toHaveLength(1);
  });

  it("given the requeue policy, then the job is requeued with the next attempt and the leftovers reclaimed", () => {
    const desired = log().desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 30, { taps: ["os-vm1"] }).hosts, sec(40), settings);
    expect(plan.jobs.map((j) => j.event)).toEqual([
      { type: "JobRequeued", data: { jobId: "j1", fromHostId: H, vmId: "vm1", attempt: 1, reason: expect.stringMatching(/^vanished: host metal-01 does not report VM vm1/) } },
    ]);
    expect(plan.jobs[0]!.msgId).toBe("requeue:j1:1");
    expect(reclaimed(plan)).toEqual(["tap:os-vm1"]);
    expect(causes(plan)).toEqual(["vanished"]);
  });

  it("given the fail policy, then the job fails", () => {
    const plan = findLeaks(log().desired(), new Telemetry().inventory(H, 30, {}).hosts, sec(40), { ...settings, vanishedPolicy: "fail" });
    expect(plan.jobs.map((j) => j.event.type)).toEqual(["JobFailed"]);
    expect(plan.jobs[0]!.msgId).toBe("janitor-fail:j1:0");
  });

  it("given the requeue policy and the last allowed attempt, then the job fails instead", () => {
    const desired = new Log().registered(0, H).running(10, "j1", "vm3", H, { attempt: 2 }).desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 30, {}).hosts, sec(40), settings);
    expect(plan.jobs.map((j) => j.event.type)).toEqual(["JobFailed"]);
    expect(plan.jobs[0]!.event.data.reason).toMatch(/attempt 3 of 3/);
  });

  it("given a VM accepted by hostd (never booted) of which nothing is left on the host, then it vanishes only after the boot grace", () => {
    const desired = new Log().registered(0, H).queued(0, "j1").scheduled(0, "j1", "vm1", H).bootRequested(10, "j1", "vm1", H).desired();
    expect(findLeaks(desired, new Telemetry().inventory(H, 129, {}).hosts, sec(140), settings).jobs).toEqual([]);
    expect(findLeaks(desired, new Telemetry().inventory(H, 130, {}).hosts, sec(140), settings).jobs).toHaveLength(1);
  });

  it("given a VM accepted long ago and waiting in hostd's queue (its run dir, no process), then it is kept", () => {
    const desired = new Log().registered(0, H).queued(0, "j1").scheduled(0, "j1", "vm1", H).bootRequested(10, "j1", "vm1", H).desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 5000, { runDirs: ["/s/hostd/vms/vm1"] }).hosts, sec(5000), settings);
    expect(plan).toEqual({ reclaims: [], stuck: [], jobs: [], waiting: [] });
  });

  it("given the job already ended or moved to another VM, then no job decision is made", () => {
    const ended = log().add(30, { type: "JobCompleted", data: { jobId: "j1", conclusion: "success", exitCode: 0, reportedBy: "provider" } }).desired();
    expect(findLeaks(ended, new Telemetry().inventory(H, 60, {}).hosts, sec(80), settings).jobs).toEqual([]);
  });
});

describe("findLeaks: VMs of a hostd that restarted", () => {
  it("given a running VM and a new HostRegistered with no word about it since, then after the destroy grace it is reclaimed and its job requeued", () => {
    const desired = new Log().registered(0, H).running(10, "j1", "vm1", H).registered(100, H).desired();
    expect(findLeaks(desired, new Telemetry().inventory(H, 109, allOf("vm1")).hosts, sec(109), settings).reclaims).toEqual([]);
    const plan = findLeaks(desired, new Telemetry().inventory(H, 110, allOf("vm1")).hosts, sec(110), settings);
    expect(reclaimed(plan)).toEqual(everything("vm1"));
    expect(causes(plan)).toEqual(["orphaned-by-restart"]);
    expect(plan.jobs.map((j) => j.event.type)).toEqual(["JobRequeued"]);
  });

  it("given a VM that was booting when hostd restarted, then it gets the boot grace", () => {
    const desired = new Log().registered(0, H).queued(0, "j1").scheduled(0, "j1", "vm1", H).bootRequested(10, "j1", "vm1", H).registered(100, H).desired();
    expect(findLeaks(desired, new Telemetry().inventory(H, 219, allOf("vm1")).hosts, sec(219), settings).reclaims).toEqual([]);
    expect(causes(findLeaks(desired, new Telemetry().inventory(H, 220, allOf("vm1")).hosts, sec(220), settings))).toEqual(["orphaned-by-restart"]);
  });

  it("given a restarted hostd that queued an accepted placement again (run dir, no process, no new event), then it is kept", () => {
    const desired = new Log().registered(0, H).queued(0, "j1").scheduled(0, "j1", "vm1", H).bootRequested(10, "j1", "vm1", H).registered(100, H).desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 5000, { runDirs: ["/s/hostd/vms/vm1"] }).hosts, sec(5000), settings);
    expect(plan).toEqual({ reclaims: [], stuck: [], jobs: [], waiting: [] });
  });

  it("given the restarted hostd took the VM back (a VM event after its registration), then it is kept", () => {
    const desired = new Log().registered(0, H).queued(0, "j1").scheduled(0, "j1", "vm1", H).bootRequested(10, "j1", "vm1", H)
      .registered(100, H).booted(105, "j1", "vm1", H).desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 400, allOf("vm1")).hosts, sec(400), settings);
    expect(plan).toEqual({ reclaims: [], stuck: [], jobs: [], waiting: [] });
  });
});

describe("findLeaks: hosts", () => {
  it("given a host that was lost and came back, then the VMs it had are reclaimed without a job decision (the scheduler requeued them)", () => {
    const desired = new Log().registered(0, H).running(10, "j1", "vm1", H)
      .add(100, { type: "HostLost", data: { hostId: H, lastSeenAt: null, reason: "silent" } }).registered(300, H).desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 310, allOf("vm1")).hosts, sec(310), settings);
    expect(reclaimed(plan)).toEqual(everything("vm1"));
    expect(causes(plan)).toEqual(["host-lost"]);
    expect(plan.jobs).toEqual([]);
  });

  it("given a host whose heartbeat or inventory is stale, then nothing on it is judged", () => {
    const desired = new Log().registered(0, H).desired();
    const t = new Telemetry().inventory(H, 0, allOf("stray1")).inventory(H, 200, allOf("stray1"));
    expect(findLeaks(desired, t.hosts, sec(261), settings)).toEqual({ reclaims: [], stuck: [], jobs: [], waiting: [] });
    t.heartbeat(H, 261);
    expect(findLeaks(desired, t.hosts, sec(261), settings).reclaims).toEqual([]);
    expect(findLeaks(desired, t.hosts, sec(259), settings).reclaims).toHaveLength(1);
  });

  it("given a VM the log wants on another host, when this host reports it (two hostds on one machine), then it is kept", () => {
    const desired = new Log().registered(0, H).registered(0, "metal-02").running(10, "j1", "vm1", "metal-02").desired();
    const t = new Telemetry().inventory("metal-02", 300, allOf("vm1")).inventory(H, 300, allOf("vm1"));
    expect(findLeaks(desired, t.hosts, sec(300), settings).reclaims).toEqual([]);
  });

  it("given names that are not oneshot's in an inventory, then they are never in a reclaim", () => {
    const foreign = {
      vms: ["UPPER", "much-too-long-vm-id"], taps: ["eth0", "tap0", "os-", "os-UP", "docker0", "os-abcdefghijklm"],
      disks: ["/var/lib/libvirt/images/vm1.qcow2", "/s/hostd/vms/../../etc/shadow", "relative/vms/abc/root.qcow2", "/s/hostd/vms/abc"],
      nftRules: ["other:abc", "oneshot:", "oneshot:ABC"], runDirs: ["/s/hostd/vms/..", "/tmp/abc", "/s//vms/abc"],
    };
    const t = new Telemetry().inventory(H, 0, foreign).inventory(H, 1000, foreign);
    const plan = findLeaks(new Log().registered(0, H).desired(), t.hosts, sec(1000), settings);
    expect(plan).toEqual({ reclaims: [], stuck: [], jobs: [], waiting: [] });
  });
});

describe("findLeaks: reclaim requests already made", () => {
  const desired = () => new Log().registered(0, H);
  const t = () => new Telemetry().inventory(H, 0, { taps: ["os-zz1"] });
  const requested = (log: Log, atSec: number, reclaimId: string) =>
    log.add(atSec, { type: "ReclaimRequested", data: { hostId: H, reclaimId, reason: "x", resources: [{ kind: "tap", name: "os-zz1", vmId: "zz1" }] } });
  const answered = (log: Log, atSec: number, reclaimId: string, failed: string | undefined = undefined) =>
    log.add(atSec, {
      type: "ResourceReclaimed",
      data: { hostId: H, reclaimId, reclaimed: failed ? [] : [{ kind: "tap", name: "os-zz1" }], failed: failed ? [{ kind: "tap", name: "os-zz1", error: failed }] : [] },
    });

  it("gives the same decision on the same inventory the same reclaim id, and another inventory another id", () => {
    const a = findLeaks(desired().desired(), t().inventory(H, 120, { taps: ["os-zz1"] }, 7).hosts, sec(120), settings);
    const b = findLeaks(desired().desired(), t().inventory(H, 120, { taps: ["os-zz1"] }, 7).hosts, sec(125), settings);
    const c = findLeaks(desired().desired(), t().inventory(H, 120, { taps: ["os-zz1"] }, 8).hosts, sec(120), settings);
    expect(a.reclaims[0]!.reclaimId).toMatch(/^rc-[0-9a-f]{32}$/);
    expect(b.reclaims[0]!.reclaimId).toBe(a.reclaims[0]!.reclaimId);
    expect(a.reclaims[0]!.msgId).toBe(`reclaim:${a.reclaims[0]!.reclaimId}`);
    expect(c.reclaims[0]!.reclaimId).not.toBe(a.reclaims[0]!.reclaimId);
  });

  it("given a request in flight, then it is not asked again", () => {
    const plan = findLeaks(requested(desired(), 121, "r1").desired(), t().inventory(H, 135, { taps: ["os-zz1"] }).hosts, sec(135), settings);
    expect(plan.reclaims).toEqual([]);
    expect(plan.stuck).toEqual([]);
  });

  it("given no answer within the reclaim timeout, then it is escalated as no-answer and not asked again", () => {
    const plan = findLeaks(requested(desired(), 121, "r1").desired(), t().inventory(H, 181, { taps: ["os-zz1"] }).hosts, sec(181), settings);
    expect(plan.reclaims).toEqual([]);
    expect(plan.stuck.map((s) => [s.reclaimId, s.why, s.resource.name])).toEqual([["r1", "no-answer", "os-zz1"]]);
  });

  it("given an answer, when an inventory taken before it still lists the resource, then nothing happens", () => {
    const plan = findLeaks(answered(requested(desired(), 121, "r1"), 130, "r1").desired(), t().inventory(H, 129, { taps: ["os-zz1"] }).hosts, sec(131), settings);
    expect(plan).toMatchObject({ reclaims: [], stuck: [] });
  });

  it("given an answer, when the next inventory still lists the resource, then it is escalated and asked again", () => {
    const plan = findLeaks(answered(requested(desired(), 121, "r1"), 122, "r1").desired(), t().inventory(H, 135, { taps: ["os-zz1"] }).hosts, sec(135), settings);
    expect(plan.stuck.map((s) => [s.why, s.key])).toEqual([["still-present", "r1|tap:os-zz1|still-present"]]);
    expect(reclaimed(plan)).toEqual(["tap:os-zz1"]);
  });

  it("given hostd reported a failure, then it is escalated with hostd's error", () => {
    const plan = findLeaks(answered(requested(desired(), 121, "r1"), 122, "r1", "device busy").desired(), t().inventory(H, 135, { taps: ["os-zz1"] }).hosts, sec(135), settings);
    expect(plan.stuck.map((s) => [s.why, s.detail])).toEqual([["failed", expect.stringMatching(/device busy/)]]);
  });

  it("given as many requests as allowed already failed, then it is only escalated", () => {
    const log = desired();
    for (const [i, id] of ["r1", "r2", "r3"].entries()) answered(requested(log, 121 + i * 10, id), 122 + i * 10, id);
    const plan = findLeaks(log.desired(), t().inventory(H, 200, { taps: ["os-zz1"] }).hosts, sec(200), settings);
    expect(plan.reclaims).toEqual([]);
    expect(plan.stuck.map((s) => [s.reclaimId, s.why])).toEqual([["r3", "still-present"]]);
    expect(plan.stuck[0]!.detail).toMatch(/giving up asking/);
  });
});
