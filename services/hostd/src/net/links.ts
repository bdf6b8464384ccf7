import { readFile, writeFile } from "node:fs/promises";
import { run, type Exec } from "../host/exec.js";

export interface LinkInfo {
  name: string;
  master?: string;
  up: boolean;
  kind?: string;
  isolated?: boolean;
  addresses: string[];
}

interface IpLinkJson {
  ifname: string;
  master?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_slave_data?: { isolated?: boolean } };
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

/** `ip -j -d addr` output → links (pure). */
export function parseLinks(json: string): LinkInfo[] {
  return (JSON.parse(json || "[]") as IpLinkJson[]).map((l) => ({
    name: l.ifname,
    ...(l.master ? { master: l.master } : {}),
    up: (l.flags ?? []).includes("UP"),
    ...(l.linkinfo?.info_kind ? { kind: l.linkinfo.info_kind } : {}),
    ...(l.linkinfo?.info_slave_data?.isolated !== undefined ? { isolated: l.linkinfo.info_slave_data.isolated } : {}),
    addresses: (l.addr_info ?? []).filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`),
  }));
}

/** Bridges and taps through iproute2; each call measures first and only does what is missing. */
export class Links {
  constructor(private readonly exec: Exec) {}

  async list(): Promise<LinkInfo[]> {
    return parseLinks(await run(this.exec, "ip", ["-j", "-d", "addr", "show"]));
  }

  async get(name: string): Promise<LinkInfo | undefined> {
    const r = await this.exec("ip", ["-j", "-d", "addr", "show", "dev", name]);
    if (r.code !== 0) return undefined;
    return parseLinks(r.stdout)[0];
  }

  /** The bridge exists, carries the gateway address and is up. */
  async ensureBridge(name: string, gatewayCidr: string): Promise<string[]> {
    const done: string[] = [];
    let link = await this.get(name);
    if (!link) {
      await run(this.exec, "ip", ["link", "add", name, "type", "bridge"]);
      done.push("created");
      link = await this.get(name);
    }
    if (!link?.addresses.includes(gatewayCidr)) {
      await run(this.exec, "ip", ["addr", "add", gatewayCidr, "dev", name]);
      done.push(`address ${gatewayCidr}`);
    }
    if (!link?.up) {
      await run(this.exec, "ip", ["link", "set", name, "up"]);
      done.push("up");
    }
    return done;
  }

  /** The tap exists, is a port of `bridge`, isolated from the other ports, and up. */
  async ensureTap(name: string, bridge: string): Promise<string[]> {
    const done: string[] = [];
    let link = await this.get(name);
    if (link && link.kind !== "tun") throw new Error(`${name} exists and is not a tap (${link.kind ?? "unknown kind"})`);
    if (!link) {
      await run(this.exec, "ip", ["tuntap", "add", "dev", name, "mode", "tap"]);
      done.push("created");
      link = await this.get(name);
    }
    if (link?.master !== bridge) {
      await run(this.exec, "ip", ["link", "set", name, "master", bridge]);
      done.push(`master ${bridge}`);
    }
    if (link?.isolated !== true) {
      await run(this.exec, "ip", ["link", "set", "dev", name, "type", "bridge_slave", "isolated", "on"]);
      done.push("isolated");
    }
    if (!link?.up) {
      await run(this.exec, "ip", ["link", "set", name, "up"]);
      done.push("up");
    }
    return done;
  }

  /** Removes the link when it exists; returns whether it did. */
  async remove(name: string): Promise<boolean> {
    if (!(await this.get(name))) return false;
    const r = await this.exec("ip", ["link", "del", name]);
    if (r.code !== 0 && (await this.get(name))) throw new Error(`ip link del ${name}: ${r.stderr.trim()}`);
    return true;
  }
}

const FORWARD = "/proc/sys/net/ipv4/ip_forward";

/** IPv4 forwarding on (VMs reach the internet through the host's NAT). Returns whether it changed. */
export async function ensureIpForward(): Promise<boolean> {
  if ((await readFile(FORWARD, "utf8")).trim() === "1") return false;
  await writeFile(FORWARD, "1\n");
  return true;
}
