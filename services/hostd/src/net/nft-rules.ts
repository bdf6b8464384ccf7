import { createHash } from "node:crypto";
import type { EgressPolicy } from "@oneshot/proto";
import { EGRESS_SETS, OPEN_EGRESS, egressSetDeclarations, parseSetElement, vmEgressElements, type NftSetElements, type VmEgress } from "./egress-sets.js";
import { cidrRangesOf, type IntRange } from "./ipv4.js";
import { gatewayOf, type VmNet } from "./vm-address.js";

/**
 * nftables scripts for VM isolation (pure text builders; `nft.ts` runs them).
 *
 * Two tables per bridge, so two hostds on one machine (native + emulated arch) never touch
 * each other's rules:
 *  - `bridge oneshot_<br>`: layer 2, filtered in PREROUTING — before the bridge learns a
 *    source MAC into its forwarding table — and again in POSTROUTING, on the way to a tap.
 *    Per VM: frames from its tap must carry its MAC and its IPv4 address (or be ARP for
 *    them), anything else from the tap is dropped before the bridge can learn from it; frames
 *    towards its tap must be addressed to its MAC (or be broadcast ARP); frames between two
 *    ports of the bridge are dropped (no VM ⇄ VM). Both directions are rate limited per VM
 *    and, through two shared limit objects, for all VMs of the bridge together. This kernel
 *    has no `meta ibrname` in the bridge family, so every layer-2 rule names the tap: they
 *    are all per-VM. (Learning and unknown-unicast flooding are off on VM ports and each VM's
 *    MAC has a static FDB entry: `links.ts`. The rules here are the half `nft flush` removes.)
 *  - `inet oneshot_<br>`: layer 3. From the bridge, nothing reaches the host itself (input
 *    drop: covers every host address, the gateway included); forwarded packets must come from
 *    a known VM address (per-VM rule) and then go to the internet only: the forbidden set
 *    (RFC1918, link-local incl. 169.254.169.254, CGNAT, loopback, multicast, the host's own
 *    addresses, connected networks and routes) is dropped, DNS to the configured server
 *    excepted. Masquerade on the way out; nothing may open a connection towards a VM. Then
 *    each VM's egress policy (egress-sets.ts, docs/egress-policy.md): `open` VMs go on, the
 *    others only to what their allow sets hold (`audit`: recorded, then let through); new flows
 *    dropped or audited are counted per destination in `denied`. With the DNS proxy on, DNS to
 *    anything but the proxy (on the gateway, an input-chain gateway port) is dropped.
 * Every per-VM rule carries the comment `oneshot:<vmId>`: that is how they are found and removed.
 */

export interface BaseRulesInput {
  bridge: string;
  subnet: string;
  dns: string;
  /** CIDRs and addresses VMs must never reach. */
  forbidden: string[];
  /** All VMs of the bridge together, bytes per second, each direction; absent or 0 = no shared cap. */
  totalBytesPerSec?: number;
  /**
   * Host services on the bridge's own address (the guests' gateway) that guests may reach, e.g. a
   * per-host DNS proxy (udp/tcp 53) or registry mirror (tcp 5000). Every other port of the host stays
   * closed to guests, and these ports are closed to everything that does not come from the bridge
   * (another machine on the LAN reaching the gateway address through the host's uplink).
   */
  gatewayPorts?: GatewayPorts;
  /**
   * The host's DNS proxy is the guests' only resolver (egress policies need it to learn what a
   * name resolved to): DNS to anything else is dropped, and `dns` is the proxy's upstream, not
   * an exception of the rules. Its port on the gateway comes through `gatewayPorts`.
   */
  dnsProxy?: boolean;
}

export interface GatewayPorts {
  tcp?: number[];
  udp?: number[];
}

/** One VM's isolation: its addresses on the bridge and its own rate, bytes per second each way. */
export interface VmIsolation {
  vmId: string;
  net: VmNet;
  bytesPerSec: number;
  /** The egress policy's mode and CIDRs; absent = open. */
  egress?: VmEgress;
  /** The job it runs and its whole policy (names too), for the DNS proxy and VmEgressDenied; not part of the rules. */
  owner?: { jobId: string; correlationId: string; causationId?: string; policy?: EgressPolicy };
}

export const vmRuleComment = (vmId: string): string => `oneshot:${vmId}`;
export const VM_COMMENT = /^oneshot:([a-z0-9]{1,12})$/;

/** nft identifiers: letters, digits and `_` are safe in every nft version. */
export const tableName = (bridge: string): string => `oneshot_${bridge.replace(/[^A-Za-z0-9_]/g, "_")}`;

const q = (s: string) => JSON.stringify(s);

/** Mbit/s (the unit operators think in) → bytes/s (nft's). */
export const mbitToBytesPerSec = (mbit: number): number => Math.round((mbit * 1_000_000) / 8);

/**
 * Bucket depth of a byte-rate limit: a tenth of a second of the rate, but never below 256 KiB,
 * because with GSO one packet crossing the bridge can be a 64 KiB super-frame, and a bucket
 * smaller than one packet would drop every such packet whatever the rate.
 */
export const burstBytes = (bytesPerSec: number): number => Math.max(256 * 1024, Math.round(bytesPerSec / 10));

const limitOver = (bytesPerSec: number) => `limit rate over ${bytesPerSec} bytes/second burst ${burstBytes(bytesPerSec)} bytes`;

/** The shared limit objects (bridge table): all VMs' traffic out of the taps, and into them. */
export const TOTAL_FROM_VMS = "from_vms";
export const TOTAL_TO_VMS = "to_vms";

/**
 * The marker kept in each base table (as the comment of a rule in a chain nothing jumps to:
 * nft 1.0.6 does not show table comments in JSON): a different input means a rebuild.
 */
export function baseMarker(input: BaseRulesInput): string {
  const { gatewayPorts, ...rest } = input;
  const ports = gatewayPortRules(input.bridge, input.subnet, gatewayPorts).fromBridge;
  // Without gateway ports the marker is the one older hostds wrote: no rebuild on upgrade.
  // v3: the egress policy's sets and rules (one rebuild on upgrade, with every VM's rules in it).
  const { dnsProxy, ...others } = rest;
  const norm = {
    v: 3,
    ...others,
    forbidden: [...input.forbidden].sort(),
    totalBytesPerSec: input.totalBytesPerSec || 0,
    ...(ports.length ? { ports } : {}),
    ...(dnsProxy ? { dnsProxy: true } : {}),
  };
  const h = createHash("sha256").update(JSON.stringify(norm)).digest("hex");
  return `oneshot base v3 ${h.slice(0, 16)}`;
}

interface BaseChain {
  family: "bridge" | "inet";
  name: string;
  /** `type … hook …; policy …;`, or empty for a regular chain. */
  head: string;
  rules: string[];
}

/**
 * Input rules for `gatewayPorts`: from the bridge to the gateway on those ports, accepted (before the
 * bridge's catch-all drop); from anywhere else but the host itself to the gateway on those ports, dropped.
 */
export function gatewayPortRules(bridge: string, subnet: string, ports: GatewayPorts | undefined): { fromBridge: string[]; fromElsewhere: string[] } {
  const br = q(bridge);
  const gw = gatewayOf(subnet).address;
  const fromBridge: string[] = [];
  const fromElsewhere: string[] = [];
  for (const proto of ["tcp", "udp"] as const) {
    const list = [...new Set(ports?.[proto] ?? [])].sort((a, b) => a - b);
    if (!list.length) continue;
    const set = list.length === 1 ? String(list[0]) : `{ ${list.join(", ")} }`;
    fromBridge.push(`iifname ${br} ip daddr ${gw} ${proto} dport ${set} accept`);
    fromElsewhere.push(`iifname != { ${br}, "lo" } ip daddr ${gw} ${proto} dport ${set} drop`);
  }
  return { fromBridge, fromElsewhere };
}

/** The base chains as data: the script is printed from them, and the check counts their rules. */
export function baseChains(input: BaseRulesInput): BaseChain[] {
  const br = q(input.bridge);
  const marker = `accept comment ${q(baseMarker(input))}`;
  const ports = gatewayPortRules(input.bridge, input.subnet, input.gatewayPorts);
  return [
    { family: "bridge", name: "marker", head: "", rules: [marker] },
    // -300: ahead of every other bridge-family filter; prerouting runs before MAC learning.
    { family: "bridge", name: "prerouting", head: "type filter hook prerouting priority -300; policy accept;", rules: [] },
    { family: "bridge", name: "forward", head: "type filter hook forward priority filter; policy accept;", rules: [] },
    { family: "bridge", name: "postrouting", head: "type filter hook postrouting priority filter; policy accept;", rules: [] },
    { family: "inet", name: "marker", head: "", rules: [marker] },
    { family: "inet", name: "vm_src", head: "", rules: [] },
    { family: "inet", name: "egress", head: "", rules: egressRules(input) },
    {
      family: "inet",
      name: "input",
      head: "type filter hook input priority filter; policy accept;",
      rules: [`iifname ${br} ct state established,related accept`, ...ports.fromBridge, `iifname ${br} drop`, ...ports.fromElsewhere],
    },
    {
      family: "inet",
      name: "forward",
      head: "type filter hook forward priority filter; policy accept;",
      rules: [`oifname ${br} ct state established,related accept`, `oifname ${br} drop`, `iifname ${br} jump vm_src`, `iifname ${br} drop`],
    },
    {
      family: "inet",
      name: "postrouting",
      head: "type nat hook postrouting priority srcnat; policy accept;",
      rules: [`ip saddr ${input.subnet} oifname != ${br} masquerade`],
    },
  ];
}

/** Records a new flow's destination in `denied` (per-element counter): what VmEgressDenied reports. */
const RECORD = `ct state new meta l4proto { tcp, udp } update @${EGRESS_SETS.denied} { ip saddr . ip daddr . meta l4proto . th dport counter }`;

/**
 * The egress chain, in order: the forbidden set is dropped before any allow set is looked at,
 * so an allowed name that resolves to a private or metadata address (DNS rebinding) is still
 * dropped; DNS to anything but the proxy likewise; `open` VMs then pass; established flows pass
 * (a TTL that ran out does not cut a connection); the allow sets; what is left is recorded,
 * then accepted for `audit` VMs and dropped for `allow` VMs.
 */
function egressRules(input: BaseRulesInput): string[] {
  const br = q(input.bridge);
  const s = EGRESS_SETS;
  return [
    ...(input.dnsProxy ? [] : [`ip daddr ${input.dns} meta l4proto { tcp, udp } th dport 53 accept`]),
    `oifname ${br} drop`,
    `ip daddr @forbidden ${RECORD}`,
    "ip daddr @forbidden drop",
    ...(input.dnsProxy ? [`th dport 53 ${RECORD}`, "meta l4proto { tcp, udp } th dport 53 drop"] : []),
    `ip saddr @${s.open} accept`,
    "ct state established,related accept",
    `ip saddr . ip daddr @${s.allowed} accept`,
    `ip saddr . ip daddr @${s.allowedNet} accept`,
    RECORD,
    `ip saddr @${s.audit} accept`,
    "drop",
  ];
}

/** Untagged rules each base chain must hold, keyed `family/chain`. */
export function expectedBaseRuleCounts(input: BaseRulesInput): Record<string, number> {
  return Object.fromEntries(baseChains(input).map((c) => [`${c.family}/${c.name}`, c.rules.length]));
}

/**
 * Deletes (if present) and recreates both base tables in one atomic transaction — with the
 * rules of every VM in `vms`, so a rebuild (after a flush, or because the forbidden set
 * changed) never leaves a running VM without its rules, not even between two commands.
 */
export function baseRulesScript(input: BaseRulesInput, present: { bridge: boolean; inet: boolean }, vms: VmIsolation[] = []): string {
  const t = tableName(input.bridge);
  const total = input.totalBytesPerSec || 0;
  const table = (family: "bridge" | "inet", extra: string[]) => [
    `table ${family} ${t} {`,
    ...extra,
    ...baseChains(input)
      .filter((c) => c.family === family)
      .map((c) => `  chain ${c.name} {${c.head ? ` ${c.head}` : ""}${c.rules.map((r) => `\n    ${r}`).join("")}\n  }`),
    `}`,
  ];
  return [
    ...(present.bridge ? [`delete table bridge ${t}`] : []),
    ...(present.inet ? [`delete table inet ${t}`] : []),
    ...table(
      "bridge",
      total ? [TOTAL_FROM_VMS, TOTAL_TO_VMS].map((n) => `  limit ${n} { rate over ${total} bytes/second burst ${burstBytes(total)} bytes; }`) : [],
    ),
    ...table("inet", [
      `  set forbidden { type ipv4_addr; flags interval; auto-merge; elements = { ${input.forbidden.join(", ")} }; }`,
      ...egressSetDeclarations(),
    ]),
    ...vms.map((v) => vmRulesScript(input.bridge, v, total > 0).trimEnd()),
    ``,
  ].join("\n");
}

/**
 * One VM's rules (all tagged `oneshot:<vmId>`), as `add rule` lines in one transaction.
 * `shared`: the base table has the shared limit objects (a total rate is configured).
 */
export function vmRulesScript(bridge: string, vm: VmIsolation, shared: boolean): string {
  const t = tableName(bridge);
  const { net } = vm;
  const c = `comment ${q(vmRuleComment(vm.vmId))}`;
  const tap = q(net.tap);
  const from = (chain: string, rule: string) => `add rule bridge ${t} ${chain} iifname ${tap} ${rule} ${c}`;
  const to = (chain: string, rule: string) => `add rule bridge ${t} ${chain} oifname ${tap} ${rule} ${c}`;
  return [
    // Out of the VM, before the bridge learns anything from the frame: rate, then identity.
    from("prerouting", `${limitOver(vm.bytesPerSec)} drop`),
    ...(shared ? [from("prerouting", `limit name ${q(TOTAL_FROM_VMS)} drop`)] : []),
    from("prerouting", `ether saddr ${net.mac} ether type ip ip saddr ${net.address} accept`),
    from("prerouting", `ether saddr ${net.mac} ether type arp arp saddr ether ${net.mac} arp saddr ip ${net.address} accept`),
    from("prerouting", "drop"),
    from("forward", "drop"),
    to("forward", "drop"),
    // Into the VM: rate, then only what is addressed to it (or broadcast ARP).
    to("postrouting", `${limitOver(vm.bytesPerSec)} drop`),
    ...(shared ? [to("postrouting", `limit name ${q(TOTAL_TO_VMS)} drop`)] : []),
    to("postrouting", `ether daddr ${net.mac} accept`),
    to("postrouting", "ether daddr ff:ff:ff:ff:ff:ff ether type arp accept"),
    to("postrouting", "drop"),
    `add rule inet ${t} vm_src ip saddr ${net.address} goto egress ${c}`,
    // Not rules (no comment, not counted): the VM's egress membership, keyed by its address.
    ...vmEgressElements(t, net.address, vm.egress ?? OPEN_EGRESS),
    ``,
  ].join("\n");
}

/** How many rules `vmRulesScript` adds (its set elements aside): a VM with another count is half-configured and is redone. */
export const vmRuleCount = (shared: boolean): number => (shared ? 13 : 11);

export interface NftRuleRef {
  family: string;
  table: string;
  chain: string;
  handle: number;
  comment?: string;
  /** The address an `ip saddr <a>` match names (a VM's `vm_src` rule): whose set elements go with it. */
  saddr?: string;
}

export interface NftTableRef {
  family: string;
  name: string;
  marker?: string;
}

export interface NftChainRef {
  family: string;
  table: string;
  name: string;
  hook?: string;
  policy?: string;
}

export interface NftSetRef {
  family: string;
  table: string;
  name: string;
  /** The elements as merged integer ranges (prefixes, ranges and single addresses alike). */
  ranges: IntRange[];
}

/** Deletes the given rules (by handle) in one transaction. */
export function deleteRulesScript(rules: NftRuleRef[]): string {
  return rules.map((r) => `delete rule ${r.family} ${r.table} ${r.chain} handle ${r.handle}`).join("\n") + "\n";
}

type JsonElem = string | { prefix?: { addr: string; len: number }; range?: [string, string] };

/** Rules, tables (with their base marker, when they have one) and sets out of `nft -j list ruleset` output. */
export interface Ruleset {
  rules: NftRuleRef[];
  tables: NftTableRef[];
  chains: NftChainRef[];
  sets: NftSetRef[];
  /** Named limit objects, `family/table/name`. */
  limits: string[];
  /** Every set's elements as key components (the egress sets are matched per VM address). */
  elements: NftSetElements[];
}

/** Rules, tables (with their base marker, when they have one), chains, sets and limits out of `nft -j list ruleset` output. */
export function parseRuleset(json: string): Ruleset {
  const doc = JSON.parse(json) as { nftables?: Record<string, Record<string, unknown>>[] };
  const rules: NftRuleRef[] = [];
  const tables: NftTableRef[] = [];
  const chains: NftChainRef[] = [];
  const sets: NftSetRef[] = [];
  const limits: string[] = [];
  const elements: NftSetElements[] = [];
  for (const item of doc.nftables ?? []) {
    const r = item.rule;
    if (r) {
      rules.push({
        family: String(r.family),
        table: String(r.table),
        chain: String(r.chain),
        handle: Number(r.handle),
        ...(typeof r.comment === "string" ? { comment: r.comment } : {}),
        ...(saddrOf(r.expr) ? { saddr: saddrOf(r.expr)! } : {}),
      });
    }
    const t = item.table;
    if (t) tables.push({ family: String(t.family), name: String(t.name) });
    const ch = item.chain;
    if (ch) {
      chains.push({
        family: String(ch.family),
        table: String(ch.table),
        name: String(ch.name),
        ...(typeof ch.hook === "string" ? { hook: ch.hook } : {}),
        ...(typeof ch.policy === "string" ? { policy: ch.policy } : {}),
      });
    }
    const l = item.limit;
    if (l) limits.push(`${String(l.family)}/${String(l.table)}/${String(l.name)}`);
    const s = item.set;
    if (s) {
      const elems = Array.isArray(s.elem) ? (s.elem as unknown[]) : [];
      elements.push({ family: String(s.family), table: String(s.table), name: String(s.name), elements: elems.map(parseSetElement) });
    }
    if (s && s.type === "ipv4_addr") {
      const elems = (Array.isArray(s.elem) ? s.elem : []) as JsonElem[];
      const cidrs = elems.flatMap((e): (string | [string, string])[] =>
        typeof e === "string" ? [e] : e.prefix ? [`${e.prefix.addr}/${e.prefix.len}`] : e.range ? [e.range] : [],
      );
      sets.push({ family: String(s.family), table: String(s.table), name: String(s.name), ranges: cidrRangesOf(cidrs) });
    }
  }
  for (const r of rules) {
    if (r.chain !== "marker" || !r.comment?.startsWith("oneshot base ")) continue;
    const t = tables.find((x) => x.family === r.family && x.name === r.table);
    if (t) t.marker = r.comment;
  }
  return { rules, tables, chains, sets, limits, elements };
}

/** `ip saddr <address>` in a rule's JSON expression, if it has one. */
function saddrOf(expr: unknown): string | undefined {
  if (!Array.isArray(expr)) return undefined;
  for (const x of expr as { match?: { left?: { payload?: { protocol?: string; field?: string } }; right?: unknown } }[]) {
    const p = x.match?.left?.payload;
    if (p?.protocol === "ip" && p.field === "saddr" && typeof x.match?.right === "string" && /^\d+\.\d+\.\d+\.\d+$/.test(x.match.right)) return x.match.right;
  }
  return undefined;
}

/** The rules of one VM, found by their comment. */
export const rulesOfVm = (rules: NftRuleRef[], vmId: string): NftRuleRef[] => rules.filter((r) => r.comment === vmRuleComment(vmId));
