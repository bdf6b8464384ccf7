import { describe, expect, it } from "vitest";
import { routedNetworks } from "./forbidden.js";
import { cidrRangesOf, ipToInt } from "./ipv4.js";
import { baseChains, baseMarker, tableName, vmRuleComment, vmRuleCount, type BaseRulesInput, type Ruleset } from "./nft-rules.js";
import { isolationProblems } from "./ruleset-check.js";
import { vmNetFor } from "./vm-address.js";
import { vmRate } from "./vm-rate.js";

const input: BaseRulesInput = {
  bridge: "osbr0",
  subnet: "172.30.0.0/16",
  dns: "10.0.0.2",
  forbidden: ["10.0.0.0/8", "11.0.0.0/8", "1.2.3.4"],
  totalBytesPerSec: 100_000_000,
};
const vm = { vmId: "abc123", net: vmNetFor("abc123", "172.30.0.0/16", "172.30.0.5", "10.0.0.2"), bytesPerSec: 25_000_000 };
const t = tableName("osbr0");

/** The ruleset nft would list right after a clean build with `vm`'s rules. */
function healthy(): Ruleset {
  const chains = baseChains(input);
  let handle = 1;
  return {
    tables: [
      { family: "bridge", name: t, marker: baseMarker(input) },
      { family: "inet", name: t, marker: baseMarker(input) },
    ],
    chains: chains.map((c) => ({
      family: c.family,
      table: t,
      name: c.name,
      ...(/hook (\w+)/.exec(c.head) ? { hook: /hook (\w+)/.exec(c.head)![1]!, policy: "accept" } : {}),
    })),
    rules: [
      ...chains.flatMap((c) =>
        c.rules.map((r) => ({ family: c.family, table: t, chain: c.name, handle: handle++, ...(r.includes("comment") ? { comment: baseMarker(input) } : {}) })),
      ),
      ...Array.from({ length: vmRuleCount(true) }, () => ({
        family: "bridge",
        table: t,
        chain: "prerouting",
        handle: handle++,
        comment: vmRuleComment("abc123"),
      })),
    ],
    // What nft lists after auto-merge: 10/8 + 11/8 came back as one /7.
    sets: [{ family: "inet", table: t, name: "forbidden", ranges: cidrRangesOf(["1.2.3.4", "10.0.0.0/7"]) }],
    limits: [`bridge/${t}/from_vms`, `bridge/${t}/to_vms`],
    // The egress sets: the VM is open (no policy), so it is in open_vms and nothing else.
    elements: [
      { family: "inet", table: t, name: "forbidden", elements: [] },
      { family: "inet", table: t, name: "open_vms", elements: [{ key: ["172.30.0.5"] }] },
      ...["audit_vms", "allowed", "allowed_net", "denied"].map((name) => ({ family: "inet", table: t, name, elements: [] })),
    ],
  };
}

describe("measuring isolation (ruleset-check)", () => {
  it("finds nothing wrong with a clean build, merged set elements included", () => {
    expect(isolationProblems(healthy(), input, [vm])).toEqual({ base: [], vms: [] });
  });

  it("sees a flushed ruleset, a missing VM, an extra or missing base rule, a lost set element, a changed policy, a missing limit", () => {
    expect(isolationProblems({ tables: [], chains: [], rules: [], sets: [], limits: [], elements: [] }, input, [vm]).base).toEqual([
      `table bridge ${t} missing`,
      `table inet ${t} missing`,
    ]);
    const noVm = healthy();
    noVm.rules = noVm.rules
      .filter((r) => r.comment !== vmRuleComment("abc123"))
      .concat(noVm.rules.filter((r) => r.comment === vmRuleComment("abc123")).slice(1));
    expect(isolationProblems(noVm, input, [vm]).vms).toEqual([{ vmId: "abc123", found: vmRuleCount(true) - 1, want: vmRuleCount(true) }]);
    const extra = healthy();
    extra.rules.push({ family: "bridge", table: t, chain: "prerouting", handle: 999 });
    expect(isolationProblems(extra, input, [vm]).base).toEqual(["chain bridge prerouting has 1 base rules, not 0"]);
    const lost = healthy();
    lost.rules = lost.rules.filter((r) => !(r.chain === "egress" && r.handle === lost.rules.find((x) => x.chain === "egress")!.handle));
    const egressRules = baseChains(input).find((c) => c.name === "egress")!.rules.length;
    expect(isolationProblems(lost, input, [vm]).base).toEqual([`chain inet egress has ${egressRules - 1} base rules, not ${egressRules}`]);
    const hole = healthy();
    hole.sets[0]!.ranges = cidrRangesOf(["10.0.0.0/7"]);
    expect(isolationProblems(hole, input, [vm]).base).toEqual(["set forbidden differs from the host's forbidden networks"]);
    const policy = healthy();
    policy.chains.find((c) => c.family === "inet" && c.name === "forward")!.policy = "drop";
    expect(isolationProblems(policy, input, [vm]).base).toEqual(["chain inet forward has hook forward policy drop"]);
    const nolimit = healthy();
    nolimit.limits = [];
    expect(isolationProblems(nolimit, input, [vm]).base).toEqual(["limit from_vms missing", "limit to_vms missing"]);
    const older = healthy();
    older.tables[1]!.marker = "oneshot base v1 0123";
    expect(isolationProblems(older, input, [vm]).base[0]).toMatch(/has marker oneshot base v1 0123/);
  });

  it("merges addresses, prefixes and ranges the way nft's auto-merge does", () => {
    expect(cidrRangesOf(["10.0.0.0/8", "11.0.0.0/8", "12.0.0.1"])).toEqual([
      [ipToInt("10.0.0.0"), ipToInt("11.255.255.255")],
      [ipToInt("12.0.0.1"), ipToInt("12.0.0.1")],
    ]);
    expect(cidrRangesOf([["1.0.0.5", "1.0.0.9"], "1.0.0.10"])).toEqual([[ipToInt("1.0.0.5"), ipToInt("1.0.0.10")]]);
  });
});

describe("the host's routed networks (forbidden set input)", () => {
  const routes = JSON.stringify([
    { dst: "default", gateway: "192.0.2.1", dev: "eth0" },
    { dst: "192.0.2.0/24", dev: "eth0", scope: "link" },
    { dst: "203.0.113.0/24", gateway: "10.8.0.1", dev: "wg0", table: "51820" },
    { dst: "0.0.0.0/1", dev: "tun0" },
    { dst: "128.0.0.0/1", dev: "tun0" },
    { dst: "172.30.0.0/16", dev: "osbr0" },
    { type: "local", dst: "198.51.100.7", dev: "dummy0", table: "local" },
    { type: "unreachable", dst: "192.0.2.128/25" },
  ]);

  it("takes every route but the default, the full-tunnel halves, the bridge's own and non-unicast ones", () => {
    expect(routedNetworks(routes, "osbr0")).toEqual(["192.0.2.0/24", "203.0.113.0/24", "198.51.100.7/32"]);
  });
});

describe("per-VM rates", () => {
  const policy = { defaultMbit: 200, maxMbit: 1000, totalMbit: 800 };

  it("a job gets its own rate within the operator's cap and the total, else the default", () => {
    expect(vmRate(policy)).toEqual({ mbit: 200, source: "default" });
    expect(vmRate(policy, 500)).toEqual({ mbit: 500, source: "job" });
    expect(vmRate(policy, 5000)).toEqual({ mbit: 800, source: "capped" });
    expect(vmRate({ ...policy, totalMbit: 0 }, 5000)).toEqual({ mbit: 1000, source: "capped" });
    expect(vmRate({ ...policy, defaultMbit: 900 })).toEqual({ mbit: 800, source: "capped" });
  });
});
