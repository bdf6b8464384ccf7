import { describe, expect, it } from "vitest";
import {
  baseMarker,
  baseRulesScript,
  burstBytes,
  deleteRulesScript,
  mbitToBytesPerSec,
  parseRuleset,
  rulesOfVm,
  tableName,
  vmRuleCount,
  vmRulesScript,
} from "./nft-rules.js";
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
    expect(script).toMatch(
      /chain egress \{\s+ip daddr 10\.0\.0\.2 meta l4proto \{ tcp, udp \} th dport 53 accept\s+oifname "osbr0" drop\s+ip daddr @forbidden ct state new/,
    );
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

describe("gateway ports (host services guests may reach)", () => {
  const withPorts = { ...base, gatewayPorts: { tcp: [5000, 53], udp: [53] } };
  const script = baseRulesScript(withPorts, { bridge: false, inet: false });

  it("accepts exactly those ports on the gateway from the bridge, before the bridge's catch-all drop", () => {
    expect(script).toMatch(
      /iifname "osbr0" ct state established,related accept\s+iifname "osbr0" ip daddr 172\.30\.0\.1 tcp dport \{ 53, 5000 \} accept\s+iifname "osbr0" ip daddr 172\.30\.0\.1 udp dport 53 accept\s+iifname "osbr0" drop/,
    );
  });

  it("closes them to everything that does not come from the bridge or the host itself", () => {
    expect(script).toContain('iifname != { "osbr0", "lo" } ip daddr 172.30.0.1 tcp dport { 53, 5000 } drop');
    expect(script).toContain('iifname != { "osbr0", "lo" } ip daddr 172.30.0.1 udp dport 53 drop');
  });

  it("changes the marker, so adding or removing a service rebuilds the tables; none keeps the old marker", () => {
    expect(baseMarker(withPorts)).not.toBe(baseMarker(base));
    expect(baseMarker({ ...base, gatewayPorts: {} })).toBe(baseMarker(base));
    expect(baseRulesScript(base, { bridge: false, inet: false })).not.toContain("dport 5000");
  });
});

describe("per-VM rules", () => {
  const vm = { vmId: "abc123", net, bytesPerSec: mbitToBytesPerSec(200) };
  const lines = vmRulesScript("osbr0", vm, true)
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("add rule "));
  const chain = (c: string) =>
    lines
      .filter((l) => l.startsWith(`add rule bridge oneshot_osbr0 ${c} `))
      .map((l) => l.replace(/^add rule bridge oneshot_osbr0 \w+ /, "").replace(/ comment "oneshot:abc123"$/, ""));

  it("are all tagged oneshot:<vmId>, and there are vmRuleCount of them (with and without the shared total)", () => {
    expect(lines).toHaveLength(vmRuleCount(true));
    expect(
      vmRulesScript("osbr0", vm, false)
        .trim()
        .split("\n")
        .filter((l) => l.startsWith("add rule ")),
    ).toHaveLength(vmRuleCount(false));
    for (const l of lines) expect(l).toMatch(/ comment "oneshot:abc123"$/);
  });

  it("filter what leaves the tap in PREROUTING, before the bridge learns its source MAC: rate, shared rate, its own MAC+IP or ARP for them, nothing else", () => {
    expect(chain("prerouting")).toEqual([
      'iifname "os-abc123" limit rate over 25000000 bytes/second burst 2500000 bytes drop',
      'iifname "os-abc123" limit name "from_vms" drop',
      'iifname "os-abc123" ether saddr 02:05:ac:1e:00:05 ether type ip ip saddr 172.30.0.5 accept',
      'iifname "os-abc123" ether saddr 02:05:ac:1e:00:05 ether type arp arp saddr ether 02:05:ac:1e:00:05 arp saddr ip 172.30.0.5 accept',
      'iifname "os-abc123" drop',
    ]);
    expect(lines.some((l) => / input /.test(l))).toBe(false);
  });

  it("let into the tap only frames for its MAC (or broadcast ARP), rate limited; keep VMs apart on the bridge", () => {
    expect(chain("postrouting")).toEqual([
      'oifname "os-abc123" limit rate over 25000000 bytes/second burst 2500000 bytes drop',
      'oifname "os-abc123" limit name "to_vms" drop',
      'oifname "os-abc123" ether daddr 02:05:ac:1e:00:05 accept',
      'oifname "os-abc123" ether daddr ff:ff:ff:ff:ff:ff ether type arp accept',
      'oifname "os-abc123" drop',
    ]);
    expect(chain("forward")).toEqual(['iifname "os-abc123" drop', 'oifname "os-abc123" drop']);
    expect(lines.at(-1)).toBe('add rule inet oneshot_osbr0 vm_src ip saddr 172.30.0.5 goto egress comment "oneshot:abc123"');
  });

  it("never make a bucket smaller than a GSO super-frame", () => {
    expect(burstBytes(mbitToBytesPerSec(1))).toBe(256 * 1024);
    expect(burstBytes(mbitToBytesPerSec(8000))).toBe(100_000_000);
  });

  it("are part of a base rebuild, in the same transaction", () => {
    const script = baseRulesScript({ ...base, totalBytesPerSec: 100_000_000 }, { bridge: true, inet: true }, [vm]);
    expect(script).toContain("limit from_vms { rate over 100000000 bytes/second burst 10000000 bytes; }");
    expect(script.indexOf("table inet")).toBeLessThan(script.indexOf('comment "oneshot:abc123"'));
    expect(script.match(/comment "oneshot:abc123"/g)).toHaveLength(vmRuleCount(true));
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
