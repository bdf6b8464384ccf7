import { subjectOf, type DomainEvent, type Stored } from "@oneshot/proto";
import { describe, expect, it } from "vitest";
import { checkLog, type ViolationKind } from "./log-invariants.js";

const spec = { arch: "amd64" as const, vcpus: 2, memMiB: 1024, diskGiB: 10, image: "minimal", timeoutSec: 600 };
const cap = { vcpus: 4, memMiB: 8192, diskGiB: 100 };
const log = (...events: DomainEvent[]): Stored<DomainEvent>[] =>
  events.map(
    (e, i) =>
      ({
        ...e,
        version: 1,
        subject: subjectOf(e),
        seq: i + 1,
        id: `e-${i + 1}`,
        occurredAt: "2026-01-01T00:00:00.000Z",
        correlationId: "c",
        causationId: null,
      }) as Stored<DomainEvent>,
  );

const registered = (hostId: string): DomainEvent => ({
  type: "HostRegistered",
  data: { hostId, arch: "amd64", capacity: cap, labels: [], vmm: "qemu", accel: "tcg", emulated: false, images: ["minimal"], publicKey: "k", version: "t" },
});
const queued = (jobId: string): DomainEvent => ({
  type: "JobQueued",
  data: { jobId, source: { provider: "local", repo: "local", org: "local", providerJobId: jobId, labels: [] }, spec },
});
const scheduled = (jobId: string, hostId: string, vmId: string, attempt = 0): DomainEvent => ({
  type: "JobScheduled",
  data: { jobId, hostId, vmId, spec, attempt },
});
const claimedVm = (jobId: string, hostId: string, vmId: string): DomainEvent => ({
  type: "VmBootRequested",
  data: { jobId, hostId, vmId, tap: `os-${vmId}`, disks: [] },
});
const destroyed = (jobId: string, hostId: string, vmId: string): DomainEvent => ({ type: "VmDestroyed", data: { jobId, hostId, vmId, removed: [] } });
const completed = (jobId: string): DomainEvent => ({ type: "JobCompleted", data: { jobId, conclusion: "success", exitCode: 0, reportedBy: "vm" } });
/** One job's whole clean life on `h`. */
const life = (jobId: string, h: string, vmId: string): DomainEvent[] => [
  queued(jobId),
  scheduled(jobId, h, vmId),
  claimedVm(jobId, h, vmId),
  destroyed(jobId, h, vmId),
  completed(jobId),
];
const kinds = (events: DomainEvent[]): ViolationKind[] => checkLog(log(...events)).violations.map((v) => v.kind);

describe("the chaos suite's log checker", () => {
  it("passes a clean history of jobs that each ended once", () => {
    const r = checkLog(log(registered("h1"), ...life("j1", "h1", "vm1"), ...life("j2", "h1", "vm2")));
    expect(r.violations).toEqual([]);
    expect(r).toMatchObject({ jobs: 2, ended: 2, placements: 2, vmsClaimed: 2 });
  });

  it("catches an overbooking at the placement that broke capacity, even if it was freed later", () => {
    // Three 2-vCPU placements live at once on a 4-vCPU host.
    const events = [
      registered("h1"),
      queued("j1"),
      queued("j2"),
      queued("j3"),
      scheduled("j1", "h1", "vm1"),
      scheduled("j2", "h1", "vm2"),
      scheduled("j3", "h1", "vm3"),
      ...["1", "2", "3"].flatMap((n) => [claimedVm(`j${n}`, "h1", `vm${n}`), destroyed(`j${n}`, "h1", `vm${n}`), completed(`j${n}`)]),
    ];
    const r = checkLog(log(...events));
    expect(r.violations.map((v) => [v.kind, v.seq, v.vmId])).toEqual([["overbooked", 7, "vm3"]]);
  });

  it("does not call a host overbooked when a VM was destroyed before the next placement", () => {
    expect(kinds([registered("h1"), ...life("j1", "h1", "vm1"), ...life("j2", "h1", "vm2"), ...life("j3", "h1", "vm3")])).toEqual([]);
  });

  it("catches a double completion", () => {
    const r = checkLog(log(registered("h1"), ...life("j1", "h1", "vm1"), completed("j1")));
    expect(r.violations).toMatchObject([{ kind: "job-ended-twice", jobId: "j1", seq: 7 }]);
  });

  it("catches a job that never ended", () => {
    expect(kinds([registered("h1"), queued("j1")])).toEqual(["job-never-ended"]);
  });

  it("catches a leaked reservation and a VM never destroyed", () => {
    // The job was failed, but the VM it was placed on never reported its destroy.
    const r = checkLog(
      log(registered("h1"), queued("j1"), scheduled("j1", "h1", "vm1"), claimedVm("j1", "h1", "vm1"), {
        type: "JobFailed",
        data: { jobId: "j1", reason: "x" },
      }),
    );
    expect(r.violations.map((v) => v.kind).sort()).toEqual(["reservation-leaked", "vm-not-destroyed"]);
  });

  it("frees a lost host's reservations only at its fence", () => {
    const lostThenPlaced = [
      registered("h1"),
      queued("j1"),
      queued("j2"),
      queued("j3"),
      scheduled("j1", "h1", "vm1"),
      scheduled("j2", "h1", "vm2"),
      { type: "HostLost", data: { hostId: "h1", lastSeenAt: null, reason: "quiet" } } as DomainEvent,
      registered("h1"),
      scheduled("j3", "h1", "vm3"),
    ];
    expect(kinds(lostThenPlaced)).toContain("overbooked");
    const fenced = [
      ...lostThenPlaced.slice(0, 7),
      {
        type: "HostFenced",
        data: { hostId: "h1", registeredSeq: 1, lostSeq: 7, trigger: "host-lost", vmsStopped: ["vm1", "vm2"], reason: "lost" },
      } as DomainEvent,
      registered("h1"),
      scheduled("j3", "h1", "vm3"),
    ];
    expect(kinds(fenced)).not.toContain("overbooked");
  });

  it("frees a deregistered host's reservations, as the scheduler does", () => {
    const full = [registered("h1"), queued("j1"), queued("j2"), queued("j3"), scheduled("j1", "h1", "vm1"), scheduled("j2", "h1", "vm2")];
    expect(kinds([...full, registered("h1"), scheduled("j3", "h1", "vm3")])).toContain("overbooked");
    expect(
      kinds([...full, { type: "HostDeregistered", data: { hostId: "h1", reason: "drained" } }, registered("h1"), scheduled("j3", "h1", "vm3")]),
    ).not.toContain("overbooked");
  });

  it("catches a placement on a host that never registered and one after the job ended", () => {
    expect(kinds([queued("j1"), scheduled("j1", "ghost", "vm1")])).toContain("unknown-host");
    expect(kinds([registered("h1"), ...life("j1", "h1", "vm1"), scheduled("j1", "h1", "vm9", 1), destroyed("j1", "h1", "vm9")])).toEqual(["placed-after-end"]);
  });
});
