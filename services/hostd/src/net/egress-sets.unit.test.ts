import { describe, expect, it } from "vitest";
import { allowRanges, allowResolvedScript, parseSetElement, purgeScript, vmEgressElements, vmEgressProblem, type NftSetElements } from "./egress-sets.js";
import { baseChains, baseMarker, baseRulesScript, parseRuleset, vmRuleCount, vmRulesScript, type BaseRulesInput } from "./nft-rules.js";
import { isolationProblems } from "./ruleset-check.js";
import { vmNetFor } from "./vm-address.js";

const t = "oneshot_osbr0";
const input: BaseRulesInput = { bridge: "osbr0", subnet: "172.30.0.0/16", dns: "10.0.0.2", forbidden: ["10.0.0.0/8", "169.254.0.0/16"], dnsProxy: true };
const net = vmNetFor("abc123", "172.30.0.0/16", "172.30.0.5", "172.30.0.1");
const allowVm = { vmId: "abc123", net, bytesPerSec: 1_000_000, egress: { mode: "allow" as const, cidrs: ["203.0.113.0/24", "203.0.113.9", "198.51.100.7"] } };

describe("egress chain (order is the security argument)", () => {
  const rules = baseChains(input).find((c) => c.name === "egress")!.rules;
  const at = (re: RegExp) => rules.findIndex((r) => re.test(r));

  it("drops the forbidden set before any allow set, so an allowed name rebound to a private address is still dropped", () => {
    expect(at(/^ip daddr @forbidden drop$/)).toBeGreaterThan(-1);
    expect(at(/^ip daddr @forbidden drop$/)).toBeLessThan(at(/@allowed accept$/));
    expect(at(/^ip daddr @forbidden drop$/)).toBeLessThan(at(/@allowed_net accept$/));
    expect(at(/^ip daddr @forbidden drop$/)).toBeLessThan(at(/@open_vms accept$/));
  });

  it("with the proxy on, drops DNS to anything else (even for open VMs) and has no exception for the upstream", () => {
    expect(at(/^meta l4proto \{ tcp, udp \} th dport 53 drop$/)).toBeLessThan(at(/@open_vms accept$/));
    expect(rules.join("\n")).not.toContain("10.0.0.2");
    const noProxy = baseChains({ ...input, dnsProxy: false }).find((c) => c.name === "egress")!.rules;
    expect(noProxy[0]).toBe("ip daddr 10.0.0.2 meta l4proto { tcp, udp } th dport 53 accept");
    expect(noProxy.join("\n")).not.toMatch(/th dport 53 drop/);
  });

  it("records every new flow it drops or audits, then lets audit VMs through and drops the rest", () => {
    const record = /^ct state new meta l4proto \{ tcp, udp \} update @denied \{ ip saddr \. ip daddr \. meta l4proto \. th dport counter \}$/;
    expect(at(record)).toBeGreaterThan(at(/@allowed_net accept$/));
    expect(rules.slice(-2)).toEqual(["ip saddr @audit_vms accept", "drop"]);
    expect(rules.filter((r) => r.includes("update @denied"))).toHaveLength(3); // forbidden, dns, not allowed
  });

  it("declares its sets in the inet table, and the proxy's layout has a marker of its own", () => {
    const script = baseRulesScript(input, { bridge: false, inet: false });
    for (const s of ["open_vms", "audit_vms", "allowed", "allowed_net", "denied"]) expect(script).toMatch(new RegExp(`set ${s} \\{`));
    expect(script).toContain("set allowed { type ipv4_addr . ipv4_addr; flags timeout; }");
    expect(baseMarker(input)).not.toBe(baseMarker({ ...input, dnsProxy: false }));
    expect(baseMarker(input)).toMatch(/^oneshot base v3 /);
  });
});

describe("a VM's egress elements", () => {
  it("open VMs are in open_vms, audit VMs in audit_vms, allow VMs in neither; CIDRs merged into ranges", () => {
    expect(vmEgressElements(t, "172.30.0.5", { mode: "open", cidrs: ["1.2.3.4"] })).toEqual([`add element inet ${t} open_vms { 172.30.0.5 }`]);
    expect(vmEgressElements(t, "172.30.0.5", { mode: "audit", cidrs: [] })).toEqual([`add element inet ${t} audit_vms { 172.30.0.5 }`]);
    expect(vmEgressElements(t, "172.30.0.5", allowVm.egress)).toEqual([
      `add element inet ${t} allowed_net { 172.30.0.5 . 198.51.100.7, 172.30.0.5 . 203.0.113.0-203.0.113.255 }`,
    ]);
    expect(allowRanges(["10.0.0.0/9", "10.128.0.0/9", "10.0.0.1"])).toEqual(["10.0.0.0-10.255.255.255"]);
  });

  it("go with the VM's rules but are not counted as rules", () => {
    const script = vmRulesScript("osbr0", allowVm, true);
    expect(script.split("\n").filter((l) => l.startsWith("add rule "))).toHaveLength(vmRuleCount(true));
    expect(script).toContain("allowed_net { 172.30.0.5 . 198.51.100.7");
  });

  it("resolved addresses get their timeout; a pair already there is deleted and added again (a plain add keeps the old timeout)", () => {
    expect(allowResolvedScript(t, "172.30.0.5", [{ address: "93.184.216.34", timeoutSec: 60 }])).toBe(
      [
        `add element inet ${t} allowed { 172.30.0.5 . 93.184.216.34 timeout 60s }`,
        `delete element inet ${t} allowed { 172.30.0.5 . 93.184.216.34 }`,
        `add element inet ${t} allowed { 172.30.0.5 . 93.184.216.34 timeout 60s }`,
        "",
      ].join("\n"),
    );
    expect(allowResolvedScript(t, "172.30.0.5", [])).toBe("");
  });
});

describe("reading the sets back, and measuring a VM's membership", () => {
  const listing = JSON.stringify({
    nftables: [
      { set: { family: "inet", table: t, name: "open_vms", type: "ipv4_addr", elem: ["172.30.0.6"] } },
      { set: { family: "inet", table: t, name: "audit_vms", type: "ipv4_addr" } },
      {
        set: {
          family: "inet",
          table: t,
          name: "allowed_net",
          type: ["ipv4_addr", "ipv4_addr"],
          elem: [{ concat: ["172.30.0.5", "198.51.100.7"] }, { concat: ["172.30.0.5", { prefix: { addr: "203.0.113.0", len: 24 } }] }],
        },
      },
      {
        set: {
          family: "inet",
          table: t,
          name: "allowed",
          type: ["ipv4_addr", "ipv4_addr"],
          elem: [{ elem: { val: { concat: ["172.30.0.5", "93.184.216.34"] }, timeout: 30, expires: 29 } }],
        },
      },
      {
        set: {
          family: "inet",
          table: t,
          name: "denied",
          type: ["ipv4_addr", "ipv4_addr", "inet_proto", "inet_service"],
          elem: [{ elem: { val: { concat: ["172.30.0.5", "192.0.2.1", "tcp", 443] }, counter: { packets: 3, bytes: 180 } } }],
        },
      },
      {
        rule: {
          family: "inet",
          table: t,
          chain: "vm_src",
          handle: 9,
          comment: "oneshot:abc123",
          expr: [{ match: { op: "==", left: { payload: { protocol: "ip", field: "saddr" } }, right: "172.30.0.5" } }, { goto: { target: "egress" } }],
        },
      },
    ],
  });
  const rs = parseRuleset(listing);

  it("parses keys, ranges and counters, and the address of a VM's vm_src rule", () => {
    expect(rs.elements.find((e) => e.name === "denied")!.elements).toEqual([{ key: ["172.30.0.5", "192.0.2.1", "tcp", "443"], packets: 3 }]);
    expect(rs.elements.find((e) => e.name === "allowed_net")!.elements[1]).toEqual({ key: ["172.30.0.5", "203.0.113.0/24"] });
    expect(parseSetElement({ range: ["1.0.0.1", "1.0.0.9"] })).toEqual({ key: ["1.0.0.1-1.0.0.9"] });
    expect(rs.rules[0]!.saddr).toBe("172.30.0.5");
  });

  it("a VM's membership is right only in its own mode set with exactly its CIDRs", () => {
    expect(vmEgressProblem(rs.elements, t, "172.30.0.5", allowVm.egress)).toBeUndefined();
    expect(vmEgressProblem(rs.elements, t, "172.30.0.5", { mode: "allow", cidrs: ["203.0.113.0/24"] })).toMatch(/allowed_net differs/);
    expect(vmEgressProblem(rs.elements, t, "172.30.0.5", { mode: "open", cidrs: [] })).toMatch(/not in open_vms/);
    expect(vmEgressProblem(rs.elements, t, "172.30.0.6", { mode: "open", cidrs: [] })).toBeUndefined();
    expect(vmEgressProblem(rs.elements, t, "172.30.0.6", { mode: "audit", cidrs: [] })).toMatch(/in open_vms/);
  });

  it("purging an address deletes its elements in every set named (add first: a timed-out one cannot fail the transaction)", () => {
    const script = purgeScript(t, rs.elements, "172.30.0.5", ["allowed", "allowed_net", "denied", "open_vms"]);
    expect(script).toContain(`delete element inet ${t} allowed { 172.30.0.5 . 93.184.216.34 }`);
    expect(script).toContain(`add element inet ${t} denied { 172.30.0.5 . 192.0.2.1 . tcp . 443 }`);
    expect(script).toContain(`delete element inet ${t} allowed_net { 172.30.0.5 . 198.51.100.7, 172.30.0.5 . 203.0.113.0/24 }`);
    expect(script).not.toContain("172.30.0.6");
    expect(purgeScript(t, rs.elements, "172.30.0.5", ["open_vms"])).toBe("");
  });

  it("the isolation check reports a VM whose egress membership is wrong, with its rules complete", () => {
    const sets: NftSetElements[] = ["open_vms", "audit_vms", "allowed", "allowed_net", "denied"].map((name) => ({
      family: "inet",
      table: t,
      name,
      elements: name === "open_vms" ? [{ key: ["172.30.0.5"] }] : [],
    }));
    const problems = isolationProblems({ tables: [], chains: [], rules: [], sets: [], limits: [], elements: sets }, input, [allowVm]);
    expect(problems.vms).toEqual([{ vmId: "abc123", found: 0, want: vmRuleCount(false), egress: "egress mode allow but in open_vms" }]);
    const missing = isolationProblems({ tables: [], chains: [], rules: [], sets: [], limits: [], elements: [] }, input, []);
    expect(missing.base).toContain(`table inet ${t} missing`);
  });
});
