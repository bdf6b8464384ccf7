import { describe, expect, it } from "vitest";
import { findExpiredLeases } from "./find-expired-leases.js";
import { findExpiredPlacements } from "./find-expired-placements.js";
import { findLostHosts, livenessOf, type HostSeen } from "./find-lost-hosts.js";
import { Log, Telemetry, sec } from "./scenario.test-kit.js";

const H = "metal-01";
const LOST_AFTER = 60_000;
const FENCE_WAIT = 30_000;
const lostAt = (_atSec: number) => ({ type: "HostLost" as const, data: { hostId: H, lastSeenAt: null, reason: "no heartbeat for 60s" } });

describe("liveness on the janitor's clock, never the host's", () => {
  it("given a host whose clock is an hour ahead (its HostRegistered stamped in the future), then it is still lost 60s after the janitor last heard from it", () => {
    const log = new Log().registered(3600, H); // the host's clock: T0 + 1h
    const seen = new Map<string, HostSeen>([[H, { registered: { seq: 1, at: sec(0) } }]]); // the janitor read it at T0
    const t = new Telemetry().heartbeat(H, 10); // received at T0+10s (janitor clock)
    expect(findLostHosts(livenessOf(log.desired(), t.hosts, seen), sec(69), LOST_AFTER)).toEqual([]);
    expect(findLostHosts(livenessOf(log.desired(), t.hosts, seen), sec(70), LOST_AFTER).map((d) => d.msgId)).toEqual([`lost:${H}:1`]);
    // Trusting the host's stamp would have kept it "alive" for an hour.
    expect(findLostHosts(livenessOf(log.desired(), t.hosts), sec(70), LOST_AFTER)).toEqual([]);
  });

  it("given a host whose clock is an hour behind, then it is not lost while the janitor keeps receiving its heartbeats", () => {
    const log = new Log().registered(-3600, H);
    const seen = new Map<string, HostSeen>([[H, { registered: { seq: 1, at: sec(0) } }]]);
    const t = new Telemetry();
    for (let s = 0; s <= 300; s += 5) {
      t.heartbeat(H, s); // the janitor's receive time; whatever the host wrote in occurredAt is not read
      expect(findLostHosts(livenessOf(log.desired(), t.hosts, seen), sec(s + 4), LOST_AFTER)).toEqual([]);
    }
  });
});

describe("findExpiredLeases", () => {
  const base = () => new Log().registered(0, H).add(100, lostAt(100));
  const seenLost = (atSec: number) => new Map<string, HostSeen>([[H, { registered: { seq: 1, at: sec(0) }, lost: { seq: 2, at: sec(atSec) } }]]);

  it("given a lost host that has not fenced, then its lease expires JANITOR_FENCE_WAIT after the janitor read the HostLost, once", () => {
    expect(findExpiredLeases(base().desired(), seenLost(100), sec(129), FENCE_WAIT)).toEqual([]);
    expect(findExpiredLeases(base().desired(), seenLost(100), sec(130), FENCE_WAIT)).toEqual([
      {
        msgId: `lease-expired:${H}:2`,
        correlationId: "c",
        causationId: "e1",
        event: {
          type: "HostLeaseExpired",
          data: { hostId: H, registeredSeq: 1, lostSeq: 2, waitedSec: 30, reason: "no HostFenced 30s after HostLost (seq 2); fence wait 30s" },
        },
      },
    ]);
    const stated = base().add(130, { type: "HostLeaseExpired", data: { hostId: H, registeredSeq: 1, lostSeq: 2, waitedSec: 30, reason: "x" } });
    expect(findExpiredLeases(stated.desired(), seenLost(100), sec(500), FENCE_WAIT)).toEqual([]);
  });

  it("given the janitor read the HostLost late (a restart), then the wait counts from its reading", () => {
    expect(findExpiredLeases(base().desired(), seenLost(400), sec(429), FENCE_WAIT)).toEqual([]);
    expect(findExpiredLeases(base().desired(), seenLost(400), sec(430), FENCE_WAIT)).toHaveLength(1);
  });

  it("given the host fenced after its HostLost, then no lease expires", () => {
    const log = base().add(110, { type: "HostFenced", data: { hostId: H, registeredSeq: 1, lostSeq: 2, trigger: "host-lost", vmsStopped: [], reason: "x" } });
    expect(findExpiredLeases(log.desired(), seenLost(100), sec(1000), FENCE_WAIT)).toEqual([]);
  });

  it("given a fence from before the HostLost (a self-fence), then it does not answer the HostLost", () => {
    const log = new Log()
      .registered(0, H)
      .add(50, { type: "HostFenced", data: { hostId: H, registeredSeq: 1, lostSeq: null, trigger: "lease-expired", vmsStopped: [], reason: "x" } })
      .add(100, lostAt(100));
    const seen = new Map<string, HostSeen>([[H, { lost: { seq: 3, at: sec(100) } }]]);
    expect(findExpiredLeases(log.desired(), seen, sec(130), FENCE_WAIT)).toHaveLength(1);
  });

  it("given the host registered again after its HostLost, then it is not lost and no lease expires", () => {
    expect(findExpiredLeases(base().registered(105, H).desired(), seenLost(100), sec(1000), FENCE_WAIT)).toEqual([]);
  });
});

describe("findExpiredPlacements", () => {
  const TIMEOUT = 300_000;
  const placed = () => new Log().registered(0, H).queued(10, "j1").scheduled(10, "j1", "vm1", H);

  it("given a placement no host claimed, then it expires JANITOR_PLACEMENT_TIMEOUT after it was placed, naming its attempt", () => {
    expect(findExpiredPlacements(placed().desired(), sec(309), TIMEOUT)).toEqual([]);
    const [d] = findExpiredPlacements(placed().desired(), sec(310), TIMEOUT);
    expect(d).toMatchObject({
      msgId: `placement-expired:${H}:vm1`,
      event: { type: "PlacementExpired", data: { hostId: H, vmId: "vm1", jobId: "j1", attempt: 0, waitedSec: 300 } },
    });
  });

  it("given the host claimed it, or its boot failed, then it never expires", () => {
    expect(findExpiredPlacements(placed().bootRequested(20, "j1", "vm1", H).desired(), sec(10_000), TIMEOUT)).toEqual([]);
    const failed = placed().add(20, {
      type: "VmBootFailed",
      data: { hostId: H, vmId: "vm1", jobId: "j1", code: "placement-failed", reason: "ENOSPC", consoleTail: "" },
    });
    expect(findExpiredPlacements(failed.desired(), sec(10_000), TIMEOUT)).toEqual([]);
  });

  it("given its expiry is already in the log, or its host is lost, then nothing more is said", () => {
    const expired = placed().add(310, { type: "PlacementExpired", data: { hostId: H, vmId: "vm1", jobId: "j1", attempt: 0, waitedSec: 300, reason: "x" } });
    expect(findExpiredPlacements(expired.desired(), sec(10_000), TIMEOUT)).toEqual([]);
    expect(findExpiredPlacements(placed().add(100, lostAt(100)).desired(), sec(10_000), TIMEOUT)).toEqual([]);
  });

  it("given JANITOR_PLACEMENT_TIMEOUT=0, then placements never expire", () => {
    expect(findExpiredPlacements(placed().desired(), sec(10_000), 0)).toEqual([]);
  });
});
