import { cidrRangesOf, intToIp } from "./ipv4.js";

/**
 * The egress policy's half in nftables (pure text builders; docs/egress-policy.md). Shared sets
 * of the `inet oneshot_<br>` table, keyed by the VM's address (unique on the bridge, and held
 * to it by the layer-2 rules), so a VM's mode is set membership and a policy change is a set
 * change, never a different rule layout:
 *  - `open_vms`: VMs in `open` mode (no allow list); `audit_vms`: VMs in `audit` mode. A VM in
 *    neither is in `allow` mode: a VM whose elements went missing is denied, not opened.
 *  - `allowed`: `vm . address` pairs the DNS proxy resolved for an allowed name, with a timeout
 *    from the answer's TTL; `allowed_net`: `vm . range` pairs from the policy's CIDRs.
 *  - `denied`: `vm . address . proto . port` with a per-element counter, filled from the packet
 *    path (`update @denied`) for every new flow that was dropped or, in audit mode, would have
 *    been; hostd polls it for VmEgressDenied.
 */
export const EGRESS_SETS = {
  open: "open_vms",
  audit: "audit_vms",
  allowed: "allowed",
  allowedNet: "allowed_net",
  denied: "denied",
} as const;

/** How many distinct denied destinations the kernel keeps (all VMs); past it, drops go unrecorded (still dropped). */
export const DENIED_SET_SIZE = 65536;

/** What the host enforces for one VM: its mode and the policy's CIDRs (names go through the DNS proxy). */
export interface VmEgress {
  mode: "open" | "allow" | "audit";
  cidrs: string[];
}

export const OPEN_EGRESS: VmEgress = { mode: "open", cidrs: [] };

/** Set declarations for the inet table. */
export function egressSetDeclarations(): string[] {
  const s = EGRESS_SETS;
  return [
    `  set ${s.open} { type ipv4_addr; }`,
    `  set ${s.audit} { type ipv4_addr; }`,
    `  set ${s.allowed} { type ipv4_addr . ipv4_addr; flags timeout; }`,
    `  set ${s.allowedNet} { type ipv4_addr . ipv4_addr; flags interval; }`,
    `  set ${s.denied} { type ipv4_addr . ipv4_addr . inet_proto . inet_service; flags dynamic; size ${DENIED_SET_SIZE}; }`,
  ];
}

/** The policy's CIDRs as merged ranges (an interval set refuses overlapping elements). */
export function allowRanges(cidrs: string[]): string[] {
  return cidrRangesOf(cidrs).map(([a, b]) => (a === b ? intToIp(a) : `${intToIp(a)}-${intToIp(b)}`));
}

/** The elements one VM must have: its mode membership and its CIDR ranges, as `add element` lines. */
export function vmEgressElements(table: string, address: string, egress: VmEgress): string[] {
  const s = EGRESS_SETS;
  const out: string[] = [];
  if (egress.mode === "open") out.push(`add element inet ${table} ${s.open} { ${address} }`);
  if (egress.mode === "audit") out.push(`add element inet ${table} ${s.audit} { ${address} }`);
  const ranges = egress.mode === "open" ? [] : allowRanges(egress.cidrs);
  if (ranges.length) out.push(`add element inet ${table} ${s.allowedNet} { ${ranges.map((r) => `${address} . ${r}`).join(", ")} }`);
  return out;
}

/** One element of a set as nft lists it: its key's components as text (ranges `a-b`, prefixes `a/len`), and its counter. */
export interface SetElement {
  key: string[];
  packets?: number;
}

export interface NftSetElements {
  family: string;
  table: string;
  name: string;
  elements: SetElement[];
}

/**
 * Lines that delete every element keyed by `address` in the given sets (nft has no
 * "delete where"): what a new VM on a reused address must not inherit, or a destroyed VM leave.
 */
export function purgeScript(table: string, sets: NftSetElements[], address: string, which: readonly string[]): string {
  const lines: string[] = [];
  for (const set of sets) {
    if (set.family !== "inet" || set.table !== table || !which.includes(set.name)) continue;
    const mine = set.elements.filter((e) => e.key[0] === address);
    if (!mine.length) continue;
    // add (a no-op for an element that is there), then delete: an element that timed out since
    // it was listed cannot fail the transaction.
    const keys = mine.map((e) => e.key.join(" . ")).join(", ");
    lines.push(`add element inet ${table} ${set.name} { ${keys} }`, `delete element inet ${table} ${set.name} { ${keys} }`);
  }
  return lines.length ? lines.join("\n") + "\n" : "";
}

/** Every set the egress policy keeps per VM address; `membership` is what the guard restores (the others are dynamic). */
export const ALL_EGRESS_SETS: readonly string[] = Object.values(EGRESS_SETS);
export const MEMBERSHIP_SETS: readonly string[] = [EGRESS_SETS.open, EGRESS_SETS.audit, EGRESS_SETS.allowedNet];

/**
 * What is wrong with one VM's membership (pure), or undefined: in the right mode set and no
 * other, and exactly its CIDR ranges in `allowed_net`.
 */
export function vmEgressProblem(sets: NftSetElements[], table: string, address: string, egress: VmEgress): string | undefined {
  const keysIn = (name: string) =>
    sets
      .find((x) => x.family === "inet" && x.table === table && x.name === name)
      ?.elements.filter((e) => e.key[0] === address)
      .map((e) => e.key.slice(1).join(" . ")) ?? [];
  const inOpen = keysIn(EGRESS_SETS.open).length > 0;
  const inAudit = keysIn(EGRESS_SETS.audit).length > 0;
  if (inOpen !== (egress.mode === "open")) return `egress mode ${egress.mode} but ${inOpen ? "in" : "not in"} ${EGRESS_SETS.open}`;
  if (inAudit !== (egress.mode === "audit")) return `egress mode ${egress.mode} but ${inAudit ? "in" : "not in"} ${EGRESS_SETS.audit}`;
  const want = JSON.stringify(cidrRangesOf(egress.mode === "open" ? [] : egress.cidrs));
  const got = keysIn(EGRESS_SETS.allowedNet).map((k): string | [string, string] => (k.includes("-") ? (k.split("-") as [string, string]) : k));
  if (JSON.stringify(cidrRangesOf(got)) !== want) return `${EGRESS_SETS.allowedNet} differs from the policy's CIDRs`;
  return undefined;
}

type JsonKeyPart = string | number | { prefix?: { addr: string; len: number }; range?: [string, string] };
type JsonElem = JsonKeyPart | { concat: JsonKeyPart[] } | { elem: { val: JsonKeyPart | { concat: JsonKeyPart[] }; counter?: { packets: number } } };

const part = (p: JsonKeyPart): string =>
  typeof p === "object" ? (p.prefix ? `${p.prefix.addr}/${p.prefix.len}` : p.range ? `${p.range[0]}-${p.range[1]}` : JSON.stringify(p)) : String(p);

/** One `elem` entry of `nft -j` set output → key components and counter. */
export function parseSetElement(e: unknown): SetElement {
  const x = e as JsonElem;
  if (typeof x === "object" && x !== null && "elem" in x) {
    const inner = parseSetElement(x.elem.val);
    return x.elem.counter ? { ...inner, packets: x.elem.counter.packets } : inner;
  }
  if (typeof x === "object" && x !== null && "concat" in x) return { key: x.concat.map(part) };
  return { key: [part(x as JsonKeyPart)] };
}

/**
 * `vm . address` pairs the DNS proxy resolved, each with its timeout (seconds). add, delete,
 * add: a pair already there gets the new timeout (a plain add leaves the old one).
 */
export function allowResolvedScript(table: string, vmAddress: string, entries: { address: string; timeoutSec: number }[]): string {
  if (!entries.length) return "";
  const set = `inet ${table} ${EGRESS_SETS.allowed}`;
  const keys = entries.map((e) => `${vmAddress} . ${e.address}`).join(", ");
  const timed = entries.map((e) => `${vmAddress} . ${e.address} timeout ${e.timeoutSec}s`).join(", ");
  return [`add element ${set} { ${timed} }`, `delete element ${set} { ${keys} }`, `add element ${set} { ${timed} }`, ""].join("\n");
}
