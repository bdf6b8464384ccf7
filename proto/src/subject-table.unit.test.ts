import { describe, expect, it } from "vitest";
import { eventTypes, type DomainEvent } from "./catalog.js";
import { examples } from "./examples.js";
import { eventSubjectsFor, misplacement, subjectTable } from "./subject-table.js";
import { subjectOf, subjects } from "./subjects.js";

const example = (type: DomainEvent["type"]) => ({ type, data: examples[type] }) as DomainEvent;

describe("subject table", () => {
  it("derives each identity's event subjects (what NATS permissions allow it to publish)", () => {
    expect(eventSubjectsFor("ingest")).toEqual(["evt.job.*", "evt.host.*", "evt.provider.*"]);
    expect(eventSubjectsFor("scheduler")).toEqual(["evt.job.*", "evt.host.*"]);
    expect(eventSubjectsFor("janitor")).toEqual(["evt.host.*"]);
    // Not its host subject: that is where its placements come from, and a host that could write
    // there would place jobs on itself.
    expect(eventSubjectsFor("hostd", { hostId: "metal-01" })).toEqual(["evt.host.metal-01.self", "evt.host.metal-01.vm.*"]);
    expect(eventSubjectsFor("audit")).toEqual([]);
  });

  it("has a rule for every event type, and subjectOf always picks a subject the table allows", () => {
    const ruled = new Set(subjectTable.flatMap((r) => r.types));
    expect(eventTypes.filter((t) => !ruled.has(t))).toEqual([]);
    for (const t of eventTypes) expect(misplacement(t, examples[t], subjectOf(example(t))), t).toBeUndefined();
  });

  it("refuses what one host's credential could write on its own subject to steer the fleet", () => {
    const own = subjects.host("metal-01");
    // A heartbeat stored as if it were an event: telemetry is not part of the audit log.
    expect(misplacement("HostHeartbeat", examples.HostHeartbeat, own)).toMatch(/not an event/);
    // Speaking for another host.
    expect(misplacement("HostDeregistered", { hostId: "metal-02", reason: "x" }, own)).toMatch(/hostId "metal-02" does not match/);
    expect(misplacement("HostRegistered", { ...examples.HostRegistered, hostId: "metal-02" }, own)).toMatch(/does not match/);
    // Job decisions do not belong on a host subject.
    expect(misplacement("JobCancelled", { jobId: "gh-1", reason: "x" }, own)).toMatch(/may not appear on evt.host.\{hostId\}/);
    expect(misplacement("JobQueued", examples.JobQueued, own)).toMatch(/may not appear/);
    // A VM event about another host's VM, or on the host subject itself.
    expect(misplacement("VmDestroyed", examples.VmDestroyed, subjects.vm("metal-02", examples.VmDestroyed.vmId))).toMatch(/does not match/);
    expect(misplacement("VmDestroyed", examples.VmDestroyed, own)).toMatch(/may not appear/);
    // On its own `.self` subject: only statements about itself, never placements.
    const self = subjects.hostSelf("metal-01");
    expect(misplacement("JobScheduled", examples.JobScheduled, self)).toMatch(/may not appear on evt.host.\{hostId\}.self/);
    expect(misplacement("HostRegistered", { ...examples.HostRegistered, hostId: "metal-02" }, self)).toMatch(/does not match/);
    expect(misplacement("HostRegistered", examples.HostRegistered, self)).toBeUndefined();
  });

  it("refuses subjects no rule covers and ids that differ from the subject's", () => {
    expect(misplacement("JobQueued", examples.JobQueued, "evt.other.x")).toMatch(/no event may be stored/);
    expect(misplacement("JobQueued", examples.JobQueued, subjects.job("gh-2"))).toMatch(/jobId "gh-29679449" does not match evt.job.gh-2/);
    expect(misplacement("DeliveryRedelivered", examples.DeliveryRedelivered, subjects.provider("gitlab"))).toMatch(/provider/);
  });
});
