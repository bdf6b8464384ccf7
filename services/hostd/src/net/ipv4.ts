/** IPv4 arithmetic on numbers (pure). */

export interface Cidr {
  /** Network address as an unsigned 32-bit number. */
  network: number;
  prefix: number;
}

export function ipToInt(ip: string): number {
  const parts = ip.split(".");
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${ip}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`not an IPv4 address: ${ip}`);
    n = n * 256 + Number(p);
  }
  return n >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

export function parseCidr(s: string): Cidr {
  const [ip, len] = s.split("/");
  const prefix = len === undefined ? 32 : Number(len);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new Error(`not an IPv4 CIDR: ${s}`);
  return { network: (ipToInt(ip!) & maskOf(prefix)) >>> 0, prefix };
}

export const formatCidr = (c: Cidr): string => `${intToIp(c.network)}/${c.prefix}`;

export const cidrSize = (c: Cidr): number => 2 ** (32 - c.prefix);

export function cidrContains(c: Cidr, ip: string | number): boolean {
  const n = typeof ip === "number" ? ip : ipToInt(ip);
  return (n & maskOf(c.prefix)) >>> 0 === c.network;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.network & maskOf(p)) >>> 0 === (b.network & maskOf(p)) >>> 0;
}

/** Ranges a VM must never reach (besides the host's own addresses and networks). */
export const FORBIDDEN_RANGES: readonly string[] = [
  "0.0.0.0/8", // "this network"
  "10.0.0.0/8", // RFC1918
  "100.64.0.0/10", // CGNAT (RFC6598)
  "127.0.0.0/8", // loopback
  "169.254.0.0/16", // link-local, incl. the cloud metadata endpoint 169.254.169.254
  "172.16.0.0/12", // RFC1918
  "192.0.0.0/24", // IETF protocol assignments
  "192.168.0.0/16", // RFC1918
  "198.18.0.0/15", // benchmarking
  "224.0.0.0/4", // multicast
  "240.0.0.0/4", // reserved + broadcast
];

/** An inclusive range of IPv4 addresses as numbers. */
export type IntRange = [number, number];

/**
 * Addresses, CIDRs and `[first, last]` pairs → sorted ranges with overlapping and adjacent
 * ones merged (pure). nft's auto-merge joins neighbouring set elements, so two sets are the
 * same set exactly when their merged ranges are equal.
 */
export function cidrRangesOf(items: (string | [string, string])[]): IntRange[] {
  const ranges = items.map((x): IntRange => {
    if (Array.isArray(x)) return [ipToInt(x[0]), ipToInt(x[1])];
    const c = parseCidr(x);
    return [c.network, c.network + cidrSize(c) - 1];
  });
  ranges.sort((a, b) => a[0] - b[0]);
  const out: IntRange[] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}
