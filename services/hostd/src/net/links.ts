import { readFile, writeFile } from "node:fs/promises";
import { run, type Exec } from "../host/exec.js";

export interface LinkInfo {
  name: string;
  master?: string;
  up: boolean;
  kind?: string;
  isolated?: boolean;
  /** Bridge port flags: whether the bridge learns source MACs from the port, and floods unknown unicast / multicast to it. */
  learning?: boolean;
  flood?: boolean;
  mcastFlood?: boolean;
  addresses: string[];
}

/** One `bridge -j fdb show` entry: which port a MAC is forwarded to, and how it got there. */
export interface FdbEntry {
  mac: string;
  ifname?: string;
  /** `static`/`permanent` when configured, empty when learned. */
  state: string;
  /** A sticky entry never moves to another port, not even when that port learns its MAC. */
  sticky: boolean;
}

interface IpLinkJson {
  ifname: string;
  master?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_slave_data?: { isolated?: boolean; learning?: boolean; flood?: boolean; mcast_flood?: boolean } };
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
    ...(l.linkinfo?.info_slave_data?.learning !== undefined ? { learning: l.linkinfo.info_slave_data.learning } : {}),
    ...(l.linkinfo?.info_slave_data?.flood !== undefined ? { flood: l.linkinfo.info_slave_data.flood } : {}),
    ...(l.linkinfo?.info_slave_data?.mcast_flood !== undefined ? { mcastFlood: l.linkinfo.info_slave_data.mcast_flood } : {}),
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

  /** `bridge -j fdb show br <bridge>` → the forwarding entries of that bridge's ports. */
  async fdb(bridge: string): Promise<FdbEntry[]> {
    return (JSON.parse((await run(this.exec, "bridge", ["-j", "fdb", "show", "br", bridge])) || "[]") as (FdbEntry & { flags?: string[] })[]).map((e) => ({
      mac: e.mac,
      ...(e.ifname ? { ifname: e.ifname } : {}),
      state: e.state ?? "",
      sticky: (e.flags ?? []).includes("sticky"),
    }));
  }

  /**
   * The tap exists, is a port of `bridge`, isolated from the other ports, and up. With `mac`
   * (the guest's) the port is also pinned against forwarding-table poisoning: the bridge
   * learns nothing from it, floods no unknown unicast or multicast to it, and forwards
   * `mac` to it through a static, sticky entry: a static entry alone is moved by a frame
   * learned on another port; a sticky one never moves.
   */
  async ensureTap(name: string, bridge: string, mac?: string): Promise<string[]> {
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
    if (mac && (link?.learning !== false || link?.flood !== false || link?.mcastFlood !== false)) {
      await run(this.exec, "ip", ["link", "set", "dev", name, "type", "bridge_slave", "learning", "off", "flood", "off", "mcast_flood", "off"]);
      done.push("learning off");
    }
    if (mac && !(await this.fdb(bridge)).some((e) => e.mac === mac.toLowerCase() && e.ifname === name && e.state === "static" && e.sticky)) {
      await run(this.exec, "bridge", ["fdb", "replace", mac, "dev", name, "master", "static", "sticky"]);
      done.push(`fdb ${mac}`);
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
