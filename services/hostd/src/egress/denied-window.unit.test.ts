import { describe, expect, it } from "vitest";
import { classify, dueReports, emptyDeniedState, noteQuery, noteResolved, noteSamples, MAX_DESTINATIONS, type EgressOwner } from "./denied-window.js";

const owner: EgressOwner = { vmId: "vm1", hostId: "h1", jobId: "j1", mode: "allow", source: "cli" };
const ownerOf = (vm: string) => (vm === "172.30.0.2" ? owner : undefined);
const forbidden = (a: string) => a.startsWith("10.");
const classOf = (s: { address: string; port: number }, o: EgressOwner) => classify(s, o.mode, forbidden, true);
const sample = (address: string, port: number, packets: number, vm = "172.30.0.2") => ({ vm, address, protocol: "tcp" as const, port, packets });
const T0 = Date.parse("2026-12-02T08:00:00Z");
const live = () => true;

describe("denied destinations, aggregated per VM and rate limited", () => {
  it("turns cumulative counters into counts per window; the first report is at once, the next after the interval", () => {
    const st = emptyDeniedState();
    noteSamples(st, [sample("203.0.113.9", 443, 2)], ownerOf, classOf, T0);
    const [first] = dueReports(st, T0, 10_000, live);
    expect(first).toMatchObject({ vmId: "vm1", jobId: "j1", mode: "allow", source: "cli", windowStart: "2026-12-02T08:00:00.000Z" });
    expect(first!.destinations).toEqual([
      { address: "203.0.113.9", protocol: "tcp", port: 443, count: 2, reason: "not-allowed", action: "dropped", names: [] },
    ]);
    noteSamples(st, [sample("203.0.113.9", 443, 5)], ownerOf, classOf, T0 + 1000);
    noteSamples(st, [sample("203.0.113.9", 443, 9), sample("10.0.0.5", 80, 1)], ownerOf, classOf, T0 + 2000);
    expect(dueReports(st, T0 + 5000, 10_000, live)).toEqual([]); // rate limited: held
    const [second] = dueReports(st, T0 + 10_000, 10_000, live);
    expect(second!.destinations.map((d) => [d.address, d.count, d.reason])).toEqual(
      [
        ["203.0.113.9", 7],
        ["10.0.0.5", 1, "forbidden"],
      ].map(([a, c, r]) => [a, c, r ?? "not-allowed"]),
    );
    expect(dueReports(st, T0 + 30_000, 10_000, live)).toEqual([]); // nothing new, nothing sent
  });

  it("a counter that shrank was reset (all of it is new); addresses no VM owns are ignored", () => {
    const st = emptyDeniedState();
    noteSamples(st, [sample("203.0.113.9", 443, 4), sample("203.0.113.9", 443, 4, "172.30.0.99")], ownerOf, classOf, T0);
    dueReports(st, T0, 1000, live);
    noteSamples(st, [sample("203.0.113.9", 443, 1)], ownerOf, classOf, T0 + 2000);
    const [r] = dueReports(st, T0 + 2000, 1000, live);
    expect(r!.destinations[0]!.count).toBe(1);
    expect(st.windows.size).toBe(1);
  });

  it("a VM that is gone gets its last window reported at once, and then is forgotten", () => {
    const st = emptyDeniedState();
    noteSamples(st, [sample("203.0.113.9", 443, 1)], ownerOf, classOf, T0);
    dueReports(st, T0, 60_000, live);
    noteSamples(st, [sample("203.0.113.9", 443, 3)], ownerOf, classOf, T0 + 1000);
    const out = dueReports(st, T0 + 1000, 60_000, () => false);
    expect(out).toHaveLength(1);
    expect(out[0]!.destinations[0]!.count).toBe(2);
    expect(st.windows.size).toBe(0);
  });

  it("is bounded: the most frequent destinations are kept and the rest counted", () => {
    const st = emptyDeniedState();
    const many = Array.from({ length: MAX_DESTINATIONS + 10 }, (_, i) => sample(`198.51.100.${i}`, 443, i + 1));
    noteSamples(st, many, ownerOf, classOf, T0);
    const [r] = dueReports(st, T0, 1000, live);
    expect(r!.destinations).toHaveLength(MAX_DESTINATIONS);
    expect(r!.droppedDestinations).toBe(10);
    expect(r!.destinations[0]!.count).toBe(MAX_DESTINATIONS + 10);
  });

  it("carries refused queries, and the names a VM resolved for each address", () => {
    const st = emptyDeniedState();
    noteResolved(st, "172.30.0.2", owner, "rebind.example.com", ["10.0.0.5"], T0);
    noteQuery(st, "172.30.0.2", owner, "evil.net", "refused", T0);
    noteQuery(st, "172.30.0.2", owner, "evil.net", "refused", T0);
    noteSamples(st, [sample("10.0.0.5", 443, 1)], ownerOf, classOf, T0);
    const [r] = dueReports(st, T0, 1000, live);
    expect(r!.queries).toEqual([{ name: "evil.net", count: 2, action: "refused" }]);
    expect(r!.destinations[0]).toMatchObject({ address: "10.0.0.5", reason: "forbidden", names: ["rebind.example.com"] });
  });
});

describe("classifying a denied flow", () => {
  it("forbidden first, then DNS past the proxy, else outside the list (audit: let through)", () => {
    expect(classify({ address: "10.0.0.1", port: 53 }, "audit", forbidden, true)).toEqual({ reason: "forbidden", action: "dropped" });
    expect(classify({ address: "8.8.8.8", port: 53 }, "audit", forbidden, true)).toEqual({ reason: "dns", action: "dropped" });
    expect(classify({ address: "8.8.8.8", port: 53 }, "allow", forbidden, false)).toEqual({ reason: "not-allowed", action: "dropped" });
    expect(classify({ address: "8.8.8.8", port: 443 }, "audit", forbidden, true)).toEqual({ reason: "not-allowed", action: "allowed" });
  });
});
