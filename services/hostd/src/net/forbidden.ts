import { FORBIDDEN_RANGES, cidrContains, formatCidr, parseCidr, type Cidr } from "./ipv4.js";

interface IpAddrJson {
  ifname?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

/**
 * Every IPv4 address of this machine and every network it is directly connected to, from
 * `ip -j -4 addr` (pure). A VM reaches none of them: they are the host and its private side.
 */
export function hostNetworks(ipAddrJson: string): string[] {
  const out: string[] = [];
  for (const link of JSON.parse(ipAddrJson) as IpAddrJson[]) {
    for (const a of link.addr_info ?? []) {
      if (a.family !== "inet" || !a.local) continue;
      out.push(`${a.local}/32`);
      if (a.prefixlen !== undefined && a.prefixlen < 32) out.push(formatCidr(parseCidr(`${a.local}/${a.prefixlen}`)));
    }
  }
  return out;
}

interface IpRouteJson {
  dst?: string;
  dev?: string;
  type?: string;
}

/**
 * Every network the host has a route to other than its default route, from
 * `ip -j -4 route show table all` (pure): a VPN or a second NIC brings its networks as routes
 * (in any routing table: WireGuard and friends use their own), and what is behind them is
 * the host's private side. Routes shorter than /8 are left out: `0.0.0.0/1` + `128.0.0.0/1`
 * is how a full-tunnel VPN replaces the default route, and forbidding it would forbid the
 * internet; the bridge's own routes are left out (they are the VMs').
 */
export function routedNetworks(ipRouteJson: string, bridge?: string): string[] {
  const out: string[] = [];
  for (const r of JSON.parse(ipRouteJson || "[]") as IpRouteJson[]) {
    if (!r.dst || r.dst === "default" || (bridge && r.dev === bridge)) continue;
    if (r.type && !["unicast", "local", "broadcast"].includes(r.type)) continue;
    const c = parseCidr(r.dst);
    if (c.prefix < 8) continue;
    out.push(formatCidr(c));
  }
  return out;
}

/**
 * The fixed forbidden ranges plus the host's networks, with everything already covered by a
 * wider entry removed (nft refuses overlapping interval elements). Sorted, deduplicated.
 */
export function forbiddenSet(hostNets: string[], extra: string[] = []): string[] {
  const all = [...FORBIDDEN_RANGES, ...hostNets, ...extra].map(parseCidr);
  const kept: Cidr[] = [];
  for (const c of all.sort((a, b) => a.prefix - b.prefix || a.network - b.network)) {
    if (kept.some((k) => k.prefix <= c.prefix && cidrContains(k, c.network))) continue;
    kept.push(c);
  }
  return kept.sort((a, b) => a.network - b.network).map((c) => (c.prefix === 32 ? formatCidr(c).replace(/\/32$/, "") : formatCidr(c)));
}
