import { createHash } from "node:crypto";
import type { VmNet } from "./vm-address.js";

/**
 * nftables scripts for VM isolation (pure text builders; `nft.ts` runs them).
 *
 * Two tables per bridge, so two hostds on one machine (native + emulated arch) never touch
 * each other's rules:
 *  - `bridge oneshot_<br>`: layer 2. Per VM: frames from its tap must carry its MAC and its
 *    IPv4 address (or be ARP for them), anything else from the tap is dropped; frames between
 *    two ports of the bridge are dropped (no VM ⇄ VM). This kernel has no `meta ibrname` in
 *    the bridge family, so every layer-2 rule names the tap: they are all per-VM.
 *  - `inet oneshot_<br>`: layer 3. From the bridge, nothing reaches the host itself (input
 *    drop: covers every host address, the gateway included); forwarded packets must come from
 *    a known VM address (per-VM rule) and then go to the internet only: the forbidden set
 *    (RFC1918, link-local incl. 169.254.169.254, CGNAT, loopback, multicast, the host's own
 *    addresses and connected networks) is dropped, DNS to the configured server excepted.
 *    Masquerade on the way out; nothing may open a connection towards a VM.
 * Every per-VM rule carries the comment `oneshot:<vmId>`: that is how they are found and removed.
 */

export interface BaseRulesInput {
  bridge: string;
  subnet: string;
  dns: string;
  /** CIDRs and addresses VMs must never reach. */
  forbidden: string[];
}

export const vmRuleComment = (vmId: string): string => `oneshot:${vmId}`;
export const VM_COMMENT = /^oneshot:([a-z0-9]{1,12})$/;

/** nft identifiers: letters, digits and `_` are safe in every nft version. */
export const tableName = (bridge: string): string => `oneshot_${bridge.replace(/[^A-Za-z0-9_]/g, "_")}`;

const q = (s: string) => JSON.stringify(s);

/**
 * The marker kept in each base table (as the comment of a rule in a chain nothing jumps to:
 * nft 1.0.6 does not show table comments in JSON): a different input means a rebuild.
 */
export function baseMarker(input: BaseRulesInput): string {
  const h = createHash("sha256").update(JSON.stringify({ v: 1, ...input, forbidden: [...input.forbidden].sort() })).digest("hex");
  return `oneshot base v1 ${h.slice(0, 16)}`;
}

/** Deletes (if present) and recreates both base tables in one atomic transaction. */
export function baseRulesScript(input: BaseRulesInput, present: { bridge: boolean; inet: boolean }): string {
  const t = tableName(input.bridge);
  const br = q(input.bridge);
  const marker = q(baseMarker(input));
  return [
    ...(present.bridge ? [`delete table bridge ${t}`] : []),
    ...(present.inet ? [`delete table inet ${t}`] : []),
    `table bridge ${t} {`,
    `  chain marker { accept comment ${marker}; }`,
    `  chain input { type filter hook input priority filter; policy accept; }`,
    `  chain forward { type filter hook forward priority filter; policy accept; }`,
    `}`,
    `table inet ${t} {`,
    `  chain marker { accept comment ${marker}; }`,
    `  set forbidden { type ipv4_addr; flags interval; auto-merge; elements = { ${input.forbidden.join(", ")} } }`,
    `  chain vm_src { }`,
    `  chain egress {`,
    `    ip daddr ${input.dns} meta l4proto { tcp, udp } th dport 53 accept`,
    `    oifname ${br} drop`,
    `    ip daddr @forbidden drop`,
    `    accept`,
    `  }`,
    `  chain input { type filter hook input priority filter; policy accept;`,
    `    iifname ${br} ct state established,related accept`,
    `    iifname ${br} drop`,
    `  }`,
    `  chain forward { type filter hook forward priority filter; policy accept;`,
    `    oifname ${br} ct state established,related accept`,
    `    oifname ${br} drop`,
    `    iifname ${br} jump vm_src`,
    `    iifname ${br} drop`,
    `  }`,
    `  chain postrouting { type nat hook postrouting priority srcnat; policy accept;`,
    `    ip saddr ${input.subnet} oifname != ${br} masquerade`,
    `  }`,
    `}`,
    ``,
  ].join("\n");
}

/** How many rules `vmRulesScript` adds: a VM with fewer is half-configured and is redone. */
export const VM_RULE_COUNT = 6;

/** Adds one VM's rules (all tagged `oneshot:<vmId>`) in one transaction. */
export function vmRulesScript(bridge: string, vmId: string, net: VmNet): string {
  const t = tableName(bridge);
  const c = `comment ${q(vmRuleComment(vmId))}`;
  const tap = q(net.tap);
  return [
    `add rule bridge ${t} input iifname ${tap} ether saddr ${net.mac} ether type ip ip saddr ${net.address} accept ${c}`,
    `add rule bridge ${t} input iifname ${tap} ether saddr ${net.mac} ether type arp arp saddr ether ${net.mac} arp saddr ip ${net.address} accept ${c}`,
    `add rule bridge ${t} input iifname ${tap} drop ${c}`,
    `add rule bridge ${t} forward iifname ${tap} drop ${c}`,
    `add rule bridge ${t} forward oifname ${tap} drop ${c}`,
    `add rule inet ${t} vm_src ip saddr ${net.address} goto egress ${c}`,
    ``,
  ].join("\n");
}

export interface NftRuleRef {
  family: string;
  table: string;
  chain: string;
  handle: number;
  comment?: string;
}

/** Deletes the given rules (by handle) in one transaction. */
export function deleteRulesScript(rules: NftRuleRef[]): string {
  return rules.map((r) => `delete rule ${r.family} ${r.table} ${r.chain} handle ${r.handle}`).join("\n") + "\n";
}

/** Rules and tables (with their base marker, when they have one) out of `nft -j list ruleset` output. */
export function parseRuleset(json: string): { rules: NftRuleRef[]; tables: { family: string; name: string; marker?: string }[] } {
  const doc = JSON.parse(json) as { nftables?: Record<string, Record<string, unknown>>[] };
  const rules: NftRuleRef[] = [];
  const tables: { family: string; name: string; marker?: string }[] = [];
  for (const item of doc.nftables ?? []) {
    const r = item.rule;
    if (r) {
      rules.push({
        family: String(r.family), table: String(r.table), chain: String(r.chain), handle: Number(r.handle),
        ...(typeof r.comment === "string" ? { comment: r.comment } : {}),
      });
    }
    const t = item.table;
    if (t) tables.push({ family: String(t.family), name: String(t.name) });
  }
  for (const r of rules) {
    if (r.chain !== "marker" || !r.comment?.startsWith("oneshot base ")) continue;
    const t = tables.find((x) => x.family === r.family && x.name === r.table);
    if (t) t.marker = r.comment;
  }
  return { rules, tables };
}

/** The rules of one VM, found by their comment. */
export const rulesOfVm = (rules: NftRuleRef[], vmId: string): NftRuleRef[] => rules.filter((r) => r.comment === vmRuleComment(vmId));
