import { describe, expect, it } from "vitest";
import { findLostHosts, livenessOf, type HostLiveness } from "./find-lost-hosts.js";
import { Log, Telemetry, sec } from "./scenario.test-kit.js";

const host = (o: Partial<HostLiveness> = {}): HostLiveness => ({
  hostId: "metal-01",
  lastHeartbeatAt: sec(100),
  registeredAt: sec(0),
  registeredSeq: 7,
  registeredEventId: "e7",
  correlationId: "c",
  settled: false,
  ...o,
});
const LOST_AFTER = 60_000;

describe("findLostHosts", () => {
  it("given a heartbeat 59s ago, then the host is not lost", () => {
    expect(findLostHosts([host()], sec(159), LOST_AFTER)).toEqual([]);
  });

  it("given a heartbeat 60s ago, then HostLost names the last heartbeat, once per registration", () => {
    expect(findLostHosts([host()], sec(160), LOST_AFTER)).toEqual([
      {
        msgId: "lost:metal-01:7",
        correlationId: "c",
        causationId: "e7",
        event: { type: "HostLost", data: { hostId: "metal-01", lastSeenAt: new Date(sec(100)).toISOString(), reason: "no heartbeat for 60s (limit 60s)" } },
      },
    ]);
  });

  it("given a host that registered and never heartbeated, then silence counts from its registration", () => {
    expect(findLostHosts([host({ lastHeartbeatAt: null, registeredAt: sec(50) })], sec(109), LOST_AFTER)).toEqual([]);
    const [d] = findLostHosts([host({ lastHeartbeatAt: null, registeredAt: sec(50) })], sec(110), LOST_AFTER);
    expect(d!.event.data.lastSeenAt).toBeNull();
    expect(d!.event.data.reason).toMatch(/since it registered/);
  });

  it("given a heartbeat older than the latest registration, then silence counts from the registration", () => {
    expect(findLostHosts([host({ lastHeartbeatAt: sec(10), registeredAt: sec(100) })], sec(159), LOST_AFTER)).toEqual([]);
  });

  it("given a janitor that has watched telemetry for less than the limit, then nobody is lost yet", () => {
    expect(findLostHosts([host()], sec(500), LOST_AFTER, sec(450))).toEqual([]);
    expect(findLostHosts([host()], sec(510), LOST_AFTER, sec(450))).toHaveLength(1);
  });

  it("given a host already lost or deregistered, then nothing more is said", () => {
    expect(findLostHosts([host({ settled: true })], sec(1000), LOST_AFTER)).toEqual([]);
  });
});

describe("livenessOf", () => {
  it("given a host lost and then registered again, then it can be lost again under its new registration", () => {
    const log = new Log().registered(0, "metal-01").add(100, { type: "HostLost", data: { hostId: "metal-01", lastSeenAt: null, reason: "x" } });
    const t = new Telemetry().heartbeat("metal-01", 5);
    expect(findLostHosts(livenessOf(log.desired(), t.hosts), sec(1000), LOST_AFTER)).toEqual([]);
    log.registered(200, "metal-01");
    const lost = findLostHosts(livenessOf(log.desired(), t.hosts), sec(1000), LOST_AFTER);
    expect(lost.map((l) => l.msgId)).toEqual(["lost:metal-01:3"]);
  });

  it("given a deregistered host, then it is never lost", () => {
    const log = new Log().registered(0, "metal-01").add(10, { type: "HostDeregistered", data: { hostId: "metal-01", reason: "drained" } });
    expect(findLostHosts(livenessOf(log.desired(), new Map()), sec(1000), LOST_AFTER)).toEqual([]);
  });
});
