import { describe, expect, it } from "vitest";
import { VM_RULE_COUNT, baseMarker, baseRulesScript, deleteRulesScript, parseRuleset, rulesOfVm, tableName, vmRulesScript } from "./nft-rules.js";
import { vmNetFor } from "./vm-address.js";

const base = { bridge: "osbr0", subnet: "172.30.0.0/16", dns: "10.0.0.2", forbidden: ["10.0.0.0/8", "169.254.0.0/16"] };
const net = vmNetFor("abc123", "172.30.0.0/16", "172.30.0.5", "10.0.0.2");

describe("nft base tables", () => {
  const script = baseRulesScript(base, { bridge: false, inet: false });

  it("drops everything from the bridge to the host itself, except replies", () => {
    expect(script).toMatch(/chain input \{ type filter hook input[^}]*iifname "osbr0" ct state established,related accept\s+iifname "osbr0" drop/s);
  });

  it("forwards only from known VM addresses, and then never to forbidden ranges or back onto the bridge", () => {
    expect(script).toMatch(/iifname "osbr0" jump vm_src\s+iifname "osbr0" drop/);
    expect(script).toMatch(/chain egress \{\s+ip daddr 10\.0\.0\.2 meta l4proto \{ tcp, udp \} th dport 53 accept\s+oifname "osbr0" drop\s+ip daddr @forbidden drop\s+accept/);
    expect(script).toContain("elements = { 10.0.0.0/8, 169.254.0.0/16 }");
  });

  it("lets nothing open a connection towards a VM, and masquerades the subnet on the way out", () => {
    expect(script).toMatch(/oifname "osbr0" ct state established,related accept\s+oifname "osbr0" drop/);
    expect(script).toContain('ip saddr 172.30.0.0/16 oifname != "osbr0" masquerade');
  });

  it("replaces existing tables atomically and marks them with a hash of the input", () => {
    const again = baseRulesScript(base, { bridge: true, inet: true });
    expect(again.startsWith(`delete table bridge ${tableName("osbr0")}\ndelete table inet ${tableName("osbr0")}\n`)).toBe(true);
    expect(baseMarker(base)).toBe(baseMarker({ ...base, forbidden: [...base.forbidden].reverse() }));
    expect(baseMarker(base)).not.toBe(baseMarker({ ...base, dns: "10.0.0.3" }));
    expect(tableName("os-br.1")).toBe("oneshot_os_br_1");
  });
});

describe("per-VM rules", () => {
  const script = vmRulesScript("osbr0", "abc123", net);
  const lines = script.trim().split("\n");

  it("are all tagged oneshot:<vmId>, and there are VM_RULE_COUNT of them", () => {
    expect(lines).toHaveLength(VM_RULE_COUNT);
    for (const l of lines) expect(l).toMatch(/ comment "oneshot:abc123"$/);
  });

  it("pin the tap to its MAC and address (no spoofing), drop the rest, and keep VMs apart on the bridge", () => {
    expect(lines[0]).toBe('add rule bridge oneshot_osbr0 input iifname "os-abc123" ether saddr 02:05:ac:1e:00:05 ether type ip ip saddr 172.30.0.5 accept comment "oneshot:abc123"');
    expect(lines[1]).toContain("arp saddr ether 02:05:ac:1e:00:05 arp saddr ip 172.30.0.5 accept");
    expect(lines[2]).toBe('add rule bridge oneshot_osbr0 input iifname "os-abc123" drop comment "oneshot:abc123"');
    expect(lines.slice(3, 5)).toEqual([
      'add rule bridge oneshot_osbr0 forward iifname "os-abc123" drop comment "oneshot:abc123"',
      'add rule bridge oneshot_osbr0 forward oifname "os-abc123" drop comment "oneshot:abc123"',
    ]);
    expect(lines[5]).toBe('add rule inet oneshot_osbr0 vm_src ip saddr 172.30.0.5 goto egress comment "oneshot:abc123"');
  });
});

describe("finding rules again", () => {
  const listing = JSON.stringify({
    nftables: [
      { metainfo: { version: "1.0.6" } },
      { table: { family: "inet", name: "oneshot_osbr0", handle: 4 } },
      { rule: { family: "inet", table: "oneshot_osbr0", chain: "marker", handle: 3, comment: "oneshot base v1 x", expr: [] } },
      { rule: { family: "bridge", table: "oneshot_osbr0", chain: "input", handle: 7, comment: "oneshot:abc123", expr: [] } },
      { rule: { family: "inet", table: "oneshot_osbr0", chain: "vm_src", handle: 19, comment: "oneshot:abc123", expr: [] } },
      { rule: { family: "inet", table: "oneshot_osbr0", chain: "vm_src", handle: 20, comment: "oneshot:abc12", expr: [] } },
      { rule: { family: "inet", table: "oneshot_osbr0", chain: "forward", handle: 16, expr: [] } },
    ],
  });

  it("parses `nft -j list ruleset` and selects a VM's rules by exact comment", () => {
    const { rules, tables } = parseRuleset(listing);
    expect(tables).toEqual([{ family: "inet", name: "oneshot_osbr0", marker: "oneshot base v1 x" }]);
    const mine = rulesOfVm(rules, "abc123");
    expect(mine.map((r) => r.handle)).toEqual([7, 19]);
    expect(deleteRulesScript(mine)).toBe("delete rule bridge oneshot_osbr0 input handle 7\ndelete rule inet oneshot_osbr0 vm_src handle 19\n");
  });
});
