import { describe, expect, it } from "vitest";
import { appendsOf } from "./appends.js";
import { findLeaks as findLeaksOf } from "./find-leaks.js";
import type { Plan } from "./plan.js";
import { Log, Telemetry, allOf, merge, sec, settings } from "./scenario.test-kit.js";

// Every plan any scenario here produced: none may hold a job decision (see the last describe).
const plans: Plan[] = [];
const findLeaks = (...a: Parameters<typeof findLeaksOf>): Plan => {
  const p = findLeaksOf(...a);
  plans.push(p);
  return p;
};
const EMPTY: Plan = { reclaims: [], stuck: [], vanished: [], waiting: [] };

const H = "metal-01";
const reclaimed = (p: Plan) => p.reclaims.flatMap((r) => r.resources.map((x) => `${x.kind}:${x.name}`)).sort();
const causes = (p: Plan) => [...new Set(p.reclaims.flatMap((r) => r.leaks.map((l) => l.cause)))];
const waitingCauses = (p: Plan) => [...new Set(p.waiting.map((l) => l.cause))];
const everything = (vmId: string) => {
  const a = allOf(vmId);
  return [
    ...a.vms!.map((v) => `vm:${v}`),
    ...a.taps!.map((t) => `tap:${t}`),
    ...a.disks!.map((d) => `disk:${d}`),
    ...a.nftRules!.map((n) => `nft:${n}`),
    ...a.runDirs!.map((r) => `rundir:${r}`),
  ].sort();
};

describe("findLeaks: a VM whose job ended", () => {
  const log = () => new Log().registered(0, H).running(1, "j1", "vm1", H);

  it("given a completed job, when its VM is still reported within the destroy grace, then it waits", () => {
    const desired = log()
      .add(100, { type: "JobCompleted", data: { jobId: "j1", conclusion: "success", exitCode: 0, reportedBy: "vm" } })
      .desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 109, allOf("vm1")).hosts, sec(109), settings);
    expect(plan.reclaims).toEqual([]);
    expect(waitingCauses(plan)).toEqual(["job-completed"]);
  });

  it("given a completed job, when its VM is still reported after the destroy grace, then everything of it is reclaimed", () => {
    const desired = log()
      .add(100, { type: "JobCompleted", data: { jobId: "j1", conclusion: "success", exitCode: 0, reportedBy: "vm" } })
      .desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 110, allOf("vm1")).hosts, sec(110), settings);
    expect(reclaimed(plan)).toEqual(everything("vm1"));
    expect(causes(plan)).toEqual(["job-completed"]);
    expect(plan.reclaims[0]!.reason).toMatch(/^job-completed: job j1 completed \(success\)/);
    expect(plan.reclaims[0]!.hostId).toBe(H);
    const completed = desired.vms.get("vm1")!.ended!.eventId;
    expect(plan.reclaims[0]).toMatchObject({ correlationId: "c", causationId: completed });
    expect(plan.vanished).toEqual([]);
  });

  it("given a cancelled job (JobCancelled or a cancelled conclusion), then its VM is reclaimed as job-cancelled", () => {
    const a = log()
      .add(100, { type: "JobCancelled", data: { jobId: "j1", reason: "user" } })
      .desired();
    const b = log()
      .add(100, { type: "JobCompleted", data: { jobId: "j1", conclusion: "cancelled", exitCode: null, reportedBy: "provider" } })
      .desired();
    for (const d of [a, b]) {
      const plan = findLeaks(d, new Telemetry().inventory(H, 111, allOf("vm1")).hosts, sec(111), settings);
      expect(causes(plan)).toEqual(["job-cancelled"]);
      expect(reclaimed(plan)).toContain("vm:vm1");
    }
  });

  it("given a requeue that released the VM (v1, upcast to releasesVm: true), then the old attempt's VM is reclaimed and the new one kept", () => {
    const desired = log()
      .add(50, { type: "JobRequeued", data: { jobId: "j1", fromHostId: H, vmId: "vm1", reason: "boot failed", attempt: 1, releasesVm: true } })
      .scheduled(51, "j1", "vm2", H, { attempt: 1 })
      .bootRequested(52, "j1", "vm2", H)
      .booted(53, "j1", "vm2", H)
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
    expect(plan.vanished).toEqual([]);
    expect(waitingCauses(plan)).toEqual(["past-timeout"]);
  });

  it("given a VM still running at timeout + boot grace, then it is reclaimed, and nothing is decided about its job", () => {
    const desired = log().desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 10 + 60 + 120, allOf("vm1")).hosts, sec(190), settings);
    expect(reclaimed(plan)).toEqual(everything("vm1"));
    expect(causes(plan)).toEqual(["past-timeout"]);
    expect(plan.reclaims[0]!.reason).toMatch(/^past-timeout: VM vm1 is past the timeout of job j1 it runs of 60s/);
    expect(plan.vanished).toEqual([]);
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
    const t = new Telemetry()
      .inventory(H, 0, { taps: ["os-stray2"] })
      .inventory(H, 60, {})
      .inventory(H, 130, { taps: ["os-stray2"] });
    const plan = findLeaks(new Log().registered(0, H).desired(), t.hosts, sec(130), settings);
    expect(plan.reclaims).toEqual([]);
    expect(waitingCauses(plan)).toEqual(["unknown-vm"]);
  });
});

describe("findLeaks: a tap, disk, nft rule or run dir with no live VM", () => {
  it("given a VM the log says was destroyed, when its tap, disk, rule and dir remain past the destroy grace, then they are reclaimed", () => {
    const desired = new Log()
      .registered(0, H)
      .running(1, "j1", "vm1", H)
      .add(20, { type: "VmExited", data: { jobId: "j1", vmId: "vm1", hostId: H, exitCode: 0, reason: "exited", runMs: 1 } })
      .add(21, { type: "VmDestroyed", data: { jobId: "j1", vmId: "vm1", hostId: H, removed: [] } })
      .desired();
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
    expect(plan.vanished).toEqual([]);
  });

  it("given a VM placed but not yet taken by hostd, then nothing about it is judged", () => {
    const desired = new Log().registered(0, H).queued(0, "j1").scheduled(0, "j1", "vm1", H).desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 1000, { taps: ["os-vm1"] }).hosts, sec(1000), settings);
    expect(plan).toEqual(EMPTY);
  });
});

describe("findLeaks: a VM the log says exists but the host does not report", () => {
  const log = () => new Log().registered(0, H).running(10, "j1", "vm1", H);

  it("given a running VM missing from an inventory taken within the destroy grace of its boot, then nothing happens", () => {
    const plan = findLeaks(log().desired(), new Telemetry().inventory(H, 19, {}).hosts, sec(40), settings);
    expect(plan.vanished).toEqual([]);
  });

  it("given a running VM that an inventory listed at 25s, when later inventories lack it for less than the destroy grace, then it waits", () => {
    const t = new Telemetry().inventory(H, 25, allOf("vm1")).inventory(H, 34, {});
    expect(findLeaks(log().desired(), t.hosts, sec(34), settings).vanished).toEqual([]);
    t.inventory(H, 35, {});
    expect(findLeaks(log().desired(), t.hosts, sec(35), settings).vanished).toHaveLength(1);
  });

  it("given a vanished VM, then a VmVanished fact goes to its host's subject, its leftovers are reclaimed, and nothing is decided about its job", () => {
    const desired = log().desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 30, { taps: ["os-vm1"] }).hosts, sec(40), settings);
    expect(plan.vanished.map((f) => f.event)).toEqual([
      { type: "VmVanished", data: { hostId: H, vmId: "vm1", jobId: "j1", reason: expect.stringMatching(/^vanished: host metal-01 does not report VM vm1/) } },
    ]);
    expect(plan.vanished[0]).toMatchObject({ msgId: `vanished:${H}:vm1`, hostId: H, vmId: "vm1", correlationId: "c" });
    expect(reclaimed(plan)).toEqual(["tap:os-vm1"]);
    expect(causes(plan)).toEqual(["vanished"]);
    expect(appendsOf(plan).map((a) => a.event.type)).toEqual(["VmVanished", "ReclaimRequested"]);
  });

  it("given a vanished VM whose fact was appended, then it is stated once: the VM ended as vm-vanished and later passes only reclaim", () => {
    const log2 = log();
    const first = findLeaks(log2.desired(), new Telemetry().inventory(H, 30, { taps: ["os-vm1"] }).hosts, sec(40), settings);
    log2.add(41, first.vanished[0]!.event);
    const desired = log2.desired();
    expect(desired.vms.get("vm1")!.ended).toMatchObject({ cause: "vm-vanished", at: sec(41) });
    const later = findLeaks(desired, new Telemetry().inventory(H, 60, { taps: ["os-vm1"] }).hosts, sec(60), settings);
    expect(later.vanished).toEqual([]);
    expect(causes(later)).toEqual(["vm-vanished"]);
  });

  it("given a vanished VM of a job on its third attempt, then the fact is the same (attempts are the scheduler's business)", () => {
    const desired = new Log().registered(0, H).running(10, "j1", "vm3", H, { attempt: 2 }).desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 30, {}).hosts, sec(40), settings);
    expect(plan.vanished.map((f) => f.event.type)).toEqual(["VmVanished"]);
  });

  it("given a VM accepted by hostd (never booted) of which nothing is left on the host, then it vanishes only after the boot grace", () => {
    const desired = new Log().registered(0, H).queued(0, "j1").scheduled(0, "j1", "vm1", H).bootRequested(10, "j1", "vm1", H).desired();
    expect(findLeaks(desired, new Telemetry().inventory(H, 129, {}).hosts, sec(140), settings).vanished).toEqual([]);
    expect(findLeaks(desired, new Telemetry().inventory(H, 130, {}).hosts, sec(140), settings).vanished).toHaveLength(1);
  });

  it("given a VM accepted long ago and waiting in hostd's queue (its run dir, no process), then it is kept", () => {
    const desired = new Log().registered(0, H).queued(0, "j1").scheduled(0, "j1", "vm1", H).bootRequested(10, "j1", "vm1", H).desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 5000, { runDirs: ["/s/hostd/vms/vm1"] }).hosts, sec(5000), settings);
    expect(plan).toEqual(EMPTY);
  });

  it("given the job it ran already ended, then the VM is not vanished but ended (nothing to state)", () => {
    const ended = log()
      .add(30, { type: "JobCompleted", data: { jobId: "j1", conclusion: "success", exitCode: 0, reportedBy: "provider" } })
      .desired();
    expect(findLeaks(ended, new Telemetry().inventory(H, 60, {}).hosts, sec(80), settings).vanished).toEqual([]);
  });

  it("given a free VM (its job ran elsewhere) that vanished, then it is stated vanished: the scheduler must learn its capacity is gone", () => {
    const desired = new Log().registered(0, H).bootedFor(10, "j1", "vm1", H).completed(20, "j1").desired();
    expect(findLeaks(desired, new Telemetry().inventory(H, 30, {}).hosts, sec(40), settings).vanished.map((f) => f.vmId)).toEqual(["vm1"]);
  });
});

describe("findLeaks: VMs of a hostd that restarted", () => {
  it("given a running VM and a new HostRegistered with no word about it since, then after the destroy grace it is reclaimed and stated vanished", () => {
    const desired = new Log().registered(0, H).running(10, "j1", "vm1", H).registered(100, H).desired();
    expect(findLeaks(desired, new Telemetry().inventory(H, 109, allOf("vm1")).hosts, sec(109), settings).reclaims).toEqual([]);
    const plan = findLeaks(desired, new Telemetry().inventory(H, 110, allOf("vm1")).hosts, sec(110), settings);
    expect(reclaimed(plan)).toEqual(everything("vm1"));
    expect(causes(plan)).toEqual(["orphaned-by-restart"]);
    expect(plan.vanished.map((f) => [f.event.type, f.msgId, f.event.data.reason.split(":")[0]])).toEqual([
      ["VmVanished", `vanished:${H}:vm1`, "orphaned-by-restart"],
    ]);
  });

  it("given a VM that was booting when hostd restarted, then it gets the boot grace", () => {
    const desired = new Log().registered(0, H).queued(0, "j1").scheduled(0, "j1", "vm1", H).bootRequested(10, "j1", "vm1", H).registered(100, H).desired();
    expect(findLeaks(desired, new Telemetry().inventory(H, 219, allOf("vm1")).hosts, sec(219), settings).reclaims).toEqual([]);
    expect(causes(findLeaks(desired, new Telemetry().inventory(H, 220, allOf("vm1")).hosts, sec(220), settings))).toEqual(["orphaned-by-restart"]);
  });

  it("given a restarted hostd that queued an accepted placement again (run dir, no process, no new event), then it is kept", () => {
    const desired = new Log().registered(0, H).queued(0, "j1").scheduled(0, "j1", "vm1", H).bootRequested(10, "j1", "vm1", H).registered(100, H).desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 5000, { runDirs: ["/s/hostd/vms/vm1"] }).hosts, sec(5000), settings);
    expect(plan).toEqual(EMPTY);
  });

  it("given the restarted hostd took the VM back (a VM event after its registration), then it is kept", () => {
    const desired = new Log()
      .registered(0, H)
      .queued(0, "j1")
      .scheduled(0, "j1", "vm1", H)
      .bootRequested(10, "j1", "vm1", H)
      .registered(100, H)
      .booted(105, "j1", "vm1", H)
      .desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 400, allOf("vm1")).hosts, sec(400), settings);
    expect(plan).toEqual(EMPTY);
  });
});

describe("findLeaks: hosts", () => {
  it("given a host that was lost, fenced and came back, then the VMs it had are reclaimed without a job decision (the scheduler requeued them)", () => {
    const desired = new Log()
      .registered(0, H)
      .running(10, "j1", "vm1", H)
      .add(100, { type: "HostLost", data: { hostId: H, lastSeenAt: null, reason: "silent" } })
      .add(120, { type: "HostFenced", data: { hostId: H, registeredSeq: 1, lostSeq: 5, trigger: "host-lost", vmsStopped: ["vm1"], reason: "x" } })
      .registered(300, H)
      .desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 310, allOf("vm1")).hosts, sec(310), settings);
    expect(reclaimed(plan)).toEqual(everything("vm1"));
    expect(causes(plan)).toEqual(["host-lost"]);
    expect(plan.vanished).toEqual([]);
  });

  it("given a host whose heartbeat or inventory is stale, then nothing on it is judged", () => {
    const desired = new Log().registered(0, H).desired();
    const t = new Telemetry().inventory(H, 0, allOf("stray1")).inventory(H, 200, allOf("stray1"));
    expect(findLeaks(desired, t.hosts, sec(261), settings)).toEqual(EMPTY);
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
      vms: ["UPPER", "much-too-long-vm-id"],
      taps: ["eth0", "tap0", "os-", "os-UP", "docker0", "os-abcdefghijklm"],
      disks: ["/var/lib/libvirt/images/vm1.qcow2", "/s/hostd/vms/../../etc/shadow", "relative/vms/abc/root.qcow2", "/s/hostd/vms/abc"],
      nftRules: ["other:abc", "oneshot:", "oneshot:ABC"],
      runDirs: ["/s/hostd/vms/..", "/tmp/abc", "/s//vms/abc"],
    };
    const t = new Telemetry().inventory(H, 0, foreign).inventory(H, 1000, foreign);
    const plan = findLeaks(new Log().registered(0, H).desired(), t.hosts, sec(1000), settings);
    expect(plan).toEqual(EMPTY);
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
      data: {
        hostId: H,
        reclaimId,
        reclaimed: failed ? [] : [{ kind: "tap", name: "os-zz1" }],
        failed: failed ? [{ kind: "tap", name: "os-zz1", error: failed }] : [],
      },
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
    const plan = findLeaks(
      answered(requested(desired(), 121, "r1"), 130, "r1").desired(),
      t().inventory(H, 129, { taps: ["os-zz1"] }).hosts,
      sec(131),
      settings,
    );
    expect(plan).toMatchObject({ reclaims: [], stuck: [] });
  });

  it("given an answer, when the next inventory still lists the resource, then it is escalated and asked again", () => {
    const plan = findLeaks(
      answered(requested(desired(), 121, "r1"), 122, "r1").desired(),
      t().inventory(H, 135, { taps: ["os-zz1"] }).hosts,
      sec(135),
      settings,
    );
    expect(plan.stuck.map((s) => [s.why, s.key])).toEqual([["still-present", "r1|tap:os-zz1|still-present"]]);
    expect(reclaimed(plan)).toEqual(["tap:os-zz1"]);
  });

  it("given hostd reported a failure, then it is escalated with hostd's error", () => {
    const plan = findLeaks(
      answered(requested(desired(), 121, "r1"), 122, "r1", "device busy").desired(),
      t().inventory(H, 135, { taps: ["os-zz1"] }).hosts,
      sec(135),
      settings,
    );
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

describe("findLeaks: who runs where is a fact (docs/runner-model.md)", () => {
  const vmA = "vma1";
  const vmB = "vmb1";
  // A and B booted their own VMs; GitHub gave A to B's runner and B to A's.
  const swapped = () => new Log().registered(0, H).bootedFor(1, "jA", vmA, H).bootedFor(1, "jB", vmB, H).started(20, "jA", vmB).started(21, "jB", vmA, H);
  const both = () => merge(allOf(vmA), allOf(vmB));

  it("given swapped runners, when A completes, then only the VM running A is a leak after the destroy grace; the one running B is kept", () => {
    const desired = swapped().completed(100, "jA").desired();
    const early = findLeaks(desired, new Telemetry().inventory(H, 109, both()).hosts, sec(109), settings);
    expect(early.reclaims).toEqual([]);
    expect([...new Set(early.waiting.map((l) => l.resource.vmId))]).toEqual([vmB]);
    const plan = findLeaks(desired, new Telemetry().inventory(H, 110, both()).hosts, sec(110), settings);
    expect(reclaimed(plan)).toEqual(everything(vmB));
    expect(causes(plan)).toEqual(["job-completed"]);
    expect(plan.reclaims[0]!.reason).toMatch(/^job-completed: job jA completed/);
    expect(desired.vms.get(vmA)!.ended).toBeUndefined();
  });

  it("given swapped runners, when both complete, then both VMs are leaks", () => {
    const desired = swapped().completed(100, "jA").completed(200, "jB").desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 210, both()).hosts, sec(210), settings);
    expect(reclaimed(plan)).toEqual([...everything(vmA), ...everything(vmB)].sort());
  });

  it("given a job that completed elsewhere while its booted-for VM ran nothing, then that VM is kept (the scheduler rebinds or idles it)", () => {
    const desired = new Log().registered(0, H).bootedFor(1, "j1", "vm1", H).completed(50, "j1").desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 500, allOf("vm1")).hosts, sec(500), settings);
    expect(plan).toEqual(EMPTY);
  });

  it("given that free VM retired (VmRetired), then it is a leak after the destroy grace", () => {
    const log = new Log()
      .registered(0, H)
      .bootedFor(1, "j1", "vm1", H)
      .completed(50, "j1")
      .add(300, {
        type: "VmIdle",
        data: { hostId: H, vmId: "vm1", bootedForJobId: "j1", runnerName: `oneshot-${H}-vm1`, reason: "j1 ran elsewhere", candidateJobIds: [] },
      });
    expect(findLeaks(log.desired(), new Telemetry().inventory(H, 400, allOf("vm1")).hosts, sec(400), settings)).toEqual(EMPTY); // VmIdle is only a proposal
    const desired = log.add(400, { type: "VmRetired", data: { hostId: H, vmId: "vm1", reason: "runner removed" } }).desired();
    expect(findLeaks(desired, new Telemetry().inventory(H, 409, allOf("vm1")).hosts, sec(409), settings).reclaims).toEqual([]);
    const plan = findLeaks(desired, new Telemetry().inventory(H, 410, allOf("vm1")).hosts, sec(410), settings);
    expect(reclaimed(plan)).toEqual(everything("vm1"));
    expect(causes(plan)).toEqual(["vm-retired"]);
    expect(plan.reclaims[0]!.reason).toMatch(/^vm-retired: VM retired: runner removed/);
  });

  it("given a free VM no one idles or retires (a dead scheduler), then it is reclaimed past its own timeout + boot grace", () => {
    const desired = new Log().registered(0, H).bootedFor(1, "j1", "vm1", H, { timeoutSec: 600 }).completed(50, "j1").desired();
    expect(findLeaks(desired, new Telemetry().inventory(H, 720, allOf("vm1")).hosts, sec(720), settings).reclaims).toEqual([]);
    const plan = findLeaks(desired, new Telemetry().inventory(H, 721, allOf("vm1")).hosts, sec(721), settings);
    expect(causes(plan)).toEqual(["past-timeout"]);
    expect(plan.reclaims[0]!.reason).toMatch(/running nothing and held for no job/);
  });

  it("given an unstarted VM held for its job, then the backstop is that job's timeout from its boot", () => {
    const desired = new Log().registered(0, H).bootedFor(10, "j1", "vm1", H, { timeoutSec: 60 }).desired();
    expect(waitingCauses(findLeaks(desired, new Telemetry().inventory(H, 189, allOf("vm1")).hosts, sec(189), settings))).toEqual(["past-timeout"]);
    const plan = findLeaks(desired, new Telemetry().inventory(H, 190, allOf("vm1")).hosts, sec(190), settings);
    expect(causes(plan)).toEqual(["past-timeout"]);
    expect(plan.reclaims[0]!.reason).toMatch(/past the timeout of job j1 it is held for, running nothing of 60s/);
  });

  it("given a job rebound to a free VM, then the backstop counts the rebound job's timeout from the rebind", () => {
    const desired = new Log().registered(0, H).bootedFor(1, "j1", "vm1", H).completed(50, "j1").queued(290, "j2").rebound(300, "j2", "vm1", H).desired();
    // j2's spec (the kit's) says 600 s: deadline 300 + 600, plus the boot grace.
    expect(findLeaks(desired, new Telemetry().inventory(H, 1019, allOf("vm1")).hosts, sec(1019), settings).reclaims).toEqual([]);
    const plan = findLeaks(desired, new Telemetry().inventory(H, 1020, allOf("vm1")).hosts, sec(1020), settings);
    expect(plan.reclaims[0]!.reason).toMatch(/the timeout of job j2 it is held for/);
  });

  it("given a job rebound to a VM that then ends without starting on it, then the VM is kept", () => {
    const desired = new Log()
      .registered(0, H)
      .bootedFor(1, "j1", "vm1", H)
      .completed(50, "j1")
      .queued(290, "j2")
      .rebound(300, "j2", "vm1", H)
      .add(400, { type: "JobCancelled", data: { jobId: "j2", reason: "user" } })
      .desired();
    expect(findLeaks(desired, new Telemetry().inventory(H, 500, allOf("vm1")).hosts, sec(500), settings)).toEqual(EMPTY);
  });

  it("given a VM running another job than it was booted for, then it is a leak only past the running job's own timeout", () => {
    // vmA booted for A (600 s) runs B (60 s, placed on vmB) from 100 s: B's deadline is 160 s.
    const log = new Log()
      .registered(0, H)
      .bootedFor(1, "jA", vmA, H, { timeoutSec: 600 })
      .queued(2, "jB")
      .scheduled(2, "jB", vmB, H, { timeoutSec: 60 })
      .started(100, "jB", vmA);
    expect(findLeaks(log.desired(), new Telemetry().inventory(H, 279, allOf(vmA)).hosts, sec(279), settings).reclaims).toEqual([]);
    const plan = findLeaks(log.desired(), new Telemetry().inventory(H, 280, allOf(vmA)).hosts, sec(280), settings);
    expect(causes(plan)).toEqual(["past-timeout"]);
    expect(plan.reclaims[0]!.reason).toMatch(/past the timeout of job jB it runs of 60s/);
  });

  it("given a short-timeout VM running a long-timeout job, then the booted-for job's timeout does not cut it short", () => {
    const log = new Log()
      .registered(0, H)
      .bootedFor(1, "jA", vmA, H, { timeoutSec: 60 })
      .queued(2, "jB")
      .scheduled(2, "jB", vmB, H, { timeoutSec: 3600 })
      .started(10, "jB", vmA);
    expect(findLeaks(log.desired(), new Telemetry().inventory(H, 1000, allOf(vmA)).hosts, sec(1000), settings)).toEqual(EMPTY);
  });

  it("given a local job (bound to its VM, no JobStarted), when it completes, then its VM is a leak after the destroy grace", () => {
    const desired = new Log().registered(0, H).bootedFor(1, "j1", "vm1", H, { script: "true" }).completed(100, "j1").desired();
    const plan = findLeaks(desired, new Telemetry().inventory(H, 110, allOf("vm1")).hosts, sec(110), settings);
    expect(causes(plan)).toEqual(["job-completed"]);
  });

  it("given a scheduler requeue (v2, releasesVm: false) of the job A whose VM runs B, then that VM lives until B ends", () => {
    const log = swapped().add(50, { type: "JobRequeued", data: { jobId: "jB", fromHostId: H, vmId: vmB, reason: "displaced", attempt: 1, releasesVm: false } });
    expect(findLeaks(log.desired(), new Telemetry().inventory(H, 100, both()).hosts, sec(100), settings)).toEqual(EMPTY);
    const plan = findLeaks(log.completed(200, "jA").desired(), new Telemetry().inventory(H, 210, both()).hosts, sec(210), settings);
    expect(reclaimed(plan)).toEqual(everything(vmB));
  });
});

describe("findLeaks: the janitor states facts and never decides about jobs", () => {
  it("in every scenario of this file, the appends planned are only VmVanished and ReclaimRequested", () => {
    expect(plans.length).toBeGreaterThan(40);
    const types = new Set(plans.flatMap((p) => appendsOf(p).map((a) => a.event.type)));
    expect([...types].sort()).toEqual(["ReclaimRequested", "VmVanished"]);
    for (const t of ["JobRequeued", "JobFailed", "JobCompleted", "JobCancelled", "JobRebound"]) expect(types.has(t as never)).toBe(false);
  });
});
