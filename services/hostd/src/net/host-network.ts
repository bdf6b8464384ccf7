import { run, type Exec } from "../host/exec.js";
import { forbiddenSet, hostNetworks } from "./forbidden.js";
import { cidrsOverlap, parseCidr } from "./ipv4.js";
import { ensureIpForward, type Links } from "./links.js";
import type { Nft } from "./nft.js";
import { gatewayOf } from "./vm-address.js";

export interface HostNetworkReport {
  bridge: string[];
  forwarding: boolean;
  rules: "unchanged" | "rebuilt";
  forbidden: string[];
}

/**
 * The host side every VM shares, made idempotent: the bridge with the gateway address,
 * IPv4 forwarding, and the base nft tables (forbidden set = fixed private/special ranges +
 * every address and connected network of this machine, read now).
 */
export async function ensureHostNetwork(o: { exec: Exec; links: Links; nft: Nft; bridge: string; subnet: string; dns: string }): Promise<HostNetworkReport> {
  const subnet = parseCidr(o.subnet);
  const gw = gatewayOf(o.subnet);
  for (const link of await o.links.list()) {
    if (link.name === o.bridge) continue;
    const clash = link.addresses.find((a) => cidrsOverlap(parseCidr(a), subnet));
    if (clash) throw new Error(`HOSTD_SUBNET ${o.subnet} overlaps ${clash} on ${link.name}: pick another subnet`);
  }
  const bridge = await o.links.ensureBridge(o.bridge, `${gw.address}/${gw.prefix}`);
  const hostNets = hostNetworks(await run(o.exec, "ip", ["-j", "-4", "addr", "show"]));
  const forwarding = await ensureIpForward();
  const forbidden = forbiddenSet(hostNets);
  const rules = await o.nft.ensureBase({ bridge: o.bridge, subnet: o.subnet, dns: o.dns, forbidden });
  return { bridge, forwarding, rules, forbidden };
}
