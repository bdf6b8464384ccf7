import type { Exec } from "../host/exec.js";
import { Links, type FdbEntry, type LinkInfo } from "../net/links.js";
import { Nft } from "../net/nft.js";
import { vmRuleCount } from "../net/nft-rules.js";

/** Anything the simulation does not model fails loudly rather than touching the real machine. */
const refuse: Exec = async (cmd, args) => ({ code: 127, stdout: "", stderr: `simulated host: ${cmd} ${args.join(" ")} is not simulated` });

/**
 * The simulation's network adapter, links half: a host's bridge and taps as in-memory records
 * with the attributes `Links.ensureTap` would have set (a port of the bridge, isolated, no
 * learning or flooding, up). Measure-then-act stays the caller's: `ensureTap` only adds what
 * is missing, `remove` says whether there was something.
 */
export class SimLinks extends Links {
  private readonly links = new Map<string, LinkInfo>();
  private readonly fdbs: FdbEntry[] = [];

  constructor(bridge: string, gatewayCidr: string) {
    super(refuse);
    this.links.set(bridge, { name: bridge, kind: "bridge", up: true, addresses: [gatewayCidr] });
  }

  override async list(): Promise<LinkInfo[]> {
    return [...this.links.values()].map((l) => ({ ...l }));
  }

  override async get(name: string): Promise<LinkInfo | undefined> {
    const l = this.links.get(name);
    return l && { ...l };
  }

  override async ensureBridge(name: string, gatewayCidr: string): Promise<string[]> {
    if (this.links.has(name)) return [];
    this.links.set(name, { name, kind: "bridge", up: true, addresses: [gatewayCidr] });
    return ["created"];
  }

  override async fdb(bridge: string): Promise<FdbEntry[]> {
    return this.fdbs.filter((e) => this.links.get(e.ifname ?? "")?.master === bridge);
  }

  override async ensureTap(name: string, bridge: string, mac?: string): Promise<string[]> {
    const have = this.links.get(name);
    if (have && have.kind !== "tun") throw new Error(`${name} exists and is not a tap (${have.kind ?? "unknown kind"})`);
    if (!this.links.has(bridge)) throw new Error(`ip link set ${name} master ${bridge}: no such bridge`);
    if (have) return [];
    this.links.set(name, { name, kind: "tun", master: bridge, up: true, isolated: true, learning: false, flood: false, mcastFlood: false, addresses: [] });
    if (mac) this.fdbs.push({ mac: mac.toLowerCase(), ifname: name, state: "static", sticky: true });
    return ["created", `master ${bridge}`, "isolated", ...(mac ? ["learning off", `fdb ${mac}`] : []), "up"];
  }

  override async remove(name: string): Promise<boolean> {
    if (!this.links.delete(name)) return false;
    for (let i = this.fdbs.length - 1; i >= 0; i--) if (this.fdbs[i]!.ifname === name) this.fdbs.splice(i, 1);
    return true;
  }

  /** Taps left (the fleet's end-of-run check). */
  taps(): string[] {
    return [...this.links.values()].filter((l) => l.kind === "tun").map((l) => l.name);
  }
}

/**
 * The network adapter's firewall half: each VM's isolation rules as a count per VM id, the
 * number `vmRulesScript` would add, so `ensureVmRules` measures "all there" the way the real
 * one does. The base tables and the isolation guard are not simulated (the fleet runs no guard).
 */
export class SimNft extends Nft {
  private readonly rules = new Map<string, number>();

  constructor() {
    super(refuse);
  }

  override async ensureVmRules(_bridge: string, vm: { vmId: string }, shared: boolean): Promise<"present" | "added"> {
    const want = vmRuleCount(shared);
    if (this.rules.get(vm.vmId) === want) return "present";
    this.rules.set(vm.vmId, want);
    return "added";
  }

  override async removeVmRules(vmId: string): Promise<number> {
    const n = this.rules.get(vmId) ?? 0;
    this.rules.delete(vmId);
    return n;
  }

  override async vmComments(_bridge: string): Promise<string[]> {
    return [...this.rules.keys()].map((v) => `oneshot:${v}`).sort();
  }

  /** VMs with rules left (the fleet's end-of-run check). */
  vms(): string[] {
    return [...this.rules.keys()];
  }
}
