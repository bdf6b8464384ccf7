import { run, type Exec } from "../host/exec.js";
import { forbiddenSet, hostNetworks, routedNetworks } from "./forbidden.js";
import { cidrContains, cidrsOverlap, parseCidr } from "./ipv4.js";
import { ensureIpForward, type Links } from "./links.js";
import type { Nft } from "./nft.js";
import type { GatewayPorts } from "./nft-rules.js";
import { gatewayOf } from "./vm-address.js";

export interface HostNetworkReport {
  bridge: string[];
  forwarding: boolean;
  rules: "unchanged" | "rebuilt";
  forbidden: string[];
}

/**
 * The forbidden set as the host looks now: the fixed ranges, every address and connected
 * network of the machine, and every network it has a route to (any table) except the
 * default route, the bridge's own and routes inside `publicRoutes` (operator: "these routes
 * lead to the internet"). Read again by the isolation guard every few seconds, so a NIC or
 * VPN that comes up later is forbidden within one check interval.
 */
export async function readForbidden(o: { exec: Exec; bridge: string; publicRoutes?: string[] }): Promise<string[]> {
  const [addrs, routes] = await Promise.all([
    run(o.exec, "ip", ["-j", "-4", "addr", "show"]),
    run(o.exec, "ip", ["-j", "-4", "route", "show", "table", "all"]),
  ]);
  const allowed = (o.publicRoutes ?? []).map(parseCidr);
  const routed = routedNetworks(routes, o.bridge).filter((r) => {
    const c = parseCidr(r);
    return !allowed.some((a) => a.prefix <= c.prefix && cidrContains(a, c.network));
  });
  return forbiddenSet([...hostNetworks(addrs), ...routed]);
}

/**
 * The host side every VM shares, made idempotent: the bridge with the gateway address,
 * IPv4 forwarding, and the base nft tables (forbidden set: `readForbidden`, read now; the
 * isolation guard keeps it current).
 */
export async function ensureHostNetwork(o: {
  exec: Exec;
  links: Links;
  nft: Nft;
  bridge: string;
  subnet: string;
  dns: string;
  publicRoutes?: string[];
  totalBytesPerSec?: number;
  /** Host services guests may reach on the gateway (BaseRulesInput.gatewayPorts). */
  gatewayPorts?: GatewayPorts;
  /** The DNS proxy is the guests' only resolver (BaseRulesInput.dnsProxy). */
  dnsProxy?: boolean;
}): Promise<HostNetworkReport> {
  const subnet = parseCidr(o.subnet);
  const gw = gatewayOf(o.subnet);
  for (const link of await o.links.list()) {
    if (link.name === o.bridge) continue;
    const clash = link.addresses.find((a) => cidrsOverlap(parseCidr(a), subnet));
    if (clash) throw new Error(`HOSTD_SUBNET ${o.subnet} overlaps ${clash} on ${link.name}: pick another subnet`);
  }
  const bridge = await o.links.ensureBridge(o.bridge, `${gw.address}/${gw.prefix}`);
  const forwarding = await ensureIpForward();
  const forbidden = await readForbidden({ exec: o.exec, bridge: o.bridge, ...(o.publicRoutes ? { publicRoutes: o.publicRoutes } : {}) });
  const rules = await o.nft.ensureBase({
    bridge: o.bridge,
    subnet: o.subnet,
    dns: o.dns,
    forbidden,
    ...(o.totalBytesPerSec ? { totalBytesPerSec: o.totalBytesPerSec } : {}),
    ...(o.gatewayPorts ? { gatewayPorts: o.gatewayPorts } : {}),
    ...(o.dnsProxy ? { dnsProxy: true } : {}),
  });
  return { bridge, forwarding, rules, forbidden };
}
