import { cidrSize, intToIp, parseCidr, type Cidr } from "./ipv4.js";

/** The guest side of one VM's network: what goes on its config drive and into its nft rules. */
export interface VmNet {
  tap: string;
  mac: string;
  /** Guest address, e.g. 172.30.0.2. */
  address: string;
  prefix: number;
  gateway: string;
  dns: string;
}

export const tapName = (vmId: string): string => `os-${vmId}`;

/** The bridge's own address: the subnet's first host address, the guests' gateway. */
export function gatewayOf(subnet: string): { address: string; prefix: number } {
  const c = parseCidr(subnet);
  return { address: intToIp(c.network + 1), prefix: c.prefix };
}

/**
 * The lowest free guest address of `subnet` (skipping network, gateway and broadcast), or
 * undefined when the subnet is full. `inUse` holds addresses of VMs that still exist.
 */
export function allocateAddress(subnet: string | Cidr, inUse: ReadonlySet<string>): string | undefined {
  const c = typeof subnet === "string" ? parseCidr(subnet) : subnet;
  const last = c.network + cidrSize(c) - 2;
  for (let n = c.network + 2; n <= last; n++) {
    const ip = intToIp(n);
    if (!inUse.has(ip)) return ip;
  }
  return undefined;
}

/**
 * A locally administered unicast MAC derived from the guest address: unique on the bridge
 * because addresses are, and stable across a hostd restart.
 */
export function macFor(address: string): string {
  const bytes = [0x02, 0x05, ...address.split(".").map(Number)];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

export function vmNetFor(vmId: string, subnet: string, address: string, dns: string): VmNet {
  const gw = gatewayOf(subnet);
  return { tap: tapName(vmId), mac: macFor(address), address, prefix: gw.prefix, gateway: gw.address, dns };
}
