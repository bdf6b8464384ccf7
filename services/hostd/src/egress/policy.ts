import type { EgressPolicy } from "@oneshot/proto";
import { OPEN_EGRESS, type VmEgress } from "../net/egress-sets.js";

const CIDR = /^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/;

/** A DNS name as compared: lower case, no trailing dot. */
export const normName = (name: string): string => name.toLowerCase().replace(/\.$/, "");

/** The allow list's CIDRs and addresses (what nft enforces without the proxy). */
export const policyCidrs = (allow: readonly string[]): string[] => allow.filter((a) => CIDR.test(a));

/** The allow list's names and wildcards. */
export const policyNames = (allow: readonly string[]): string[] => allow.filter((a) => !CIDR.test(a)).map(normName);

/**
 * Whether `name` is on the allow list (pure): an entry `example.com` allows exactly that name;
 * `*.example.com` every name below it at any depth (`a.example.com`, `a.b.example.com`), not
 * `example.com` itself (list both for both). CIDR entries allow no name.
 */
export function nameAllowed(allow: readonly string[], name: string): boolean {
  const n = normName(name);
  for (const e of policyNames(allow)) {
    if (e.startsWith("*.") ? n.endsWith(e.slice(1)) && n.length > e.length - 1 : n === e) return true;
  }
  return false;
}

/** What the host's nft enforces for a job's policy (absent = open, as jobs queued before policies ran). */
export function vmEgressOf(p: EgressPolicy | undefined): VmEgress {
  if (!p || p.mode === "open") return OPEN_EGRESS;
  return { mode: p.mode, cidrs: policyCidrs(p.allow) };
}

/** What the DNS proxy does with one query of a VM. */
export interface QueryDecision {
  /** Ask upstream (else answer NXDOMAIN). */
  forward: boolean;
  /** Put the answer's A records into the VM's allow set before answering. */
  allowAnswers: boolean;
  /** Worth a line in VmEgressDenied: refused (allow mode), or let through though not on the list (audit mode). */
  record?: "refused" | "allowed";
}

/** The proxy's decision for a VM's query (pure). Open VMs: forwarded as is (nft lets them go anywhere public anyway). */
export function decideQuery(p: EgressPolicy | undefined, name: string): QueryDecision {
  if (!p || p.mode === "open") return { forward: true, allowAnswers: false };
  const listed = nameAllowed(p.allow, name);
  if (listed) return { forward: true, allowAnswers: true };
  return p.mode === "audit" ? { forward: true, allowAnswers: false, record: "allowed" } : { forward: false, allowAnswers: false, record: "refused" };
}

export interface TtlBounds {
  minSec: number;
  maxSec: number;
}

/**
 * How long a resolved address stays in the VM's allow set, and the TTL the guest is told (pure):
 * the record's TTL within [min, max]. The floor keeps a TTL-0 answer usable for the connection
 * that follows it; the ceiling bounds how long a name's old address stays open. The guest is
 * never told more than the set keeps (a cache in the guest must not outlive the element).
 */
export function allowTimeout(ttl: number, b: TtlBounds): { timeoutSec: number; guestTtl: number } {
  const t = Math.max(0, Math.floor(ttl));
  return { timeoutSec: Math.min(b.maxSec, Math.max(b.minSec, t)), guestTtl: Math.min(t, b.maxSec) };
}
