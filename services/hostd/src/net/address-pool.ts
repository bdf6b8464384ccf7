import { allocateAddress } from "./vm-address.js";

/** Guest addresses in use on this host's subnet (in memory; rebuilt from run dirs at start). */
export class AddressPool {
  private readonly inUse = new Map<string, string>();

  constructor(private readonly subnet: string) {}

  /** The VM's address: the one it already has, or the lowest free one. */
  take(vmId: string, wanted?: string): string {
    const have = [...this.inUse].find(([, v]) => v === vmId)?.[0];
    if (have) return have;
    if (wanted && !this.inUse.has(wanted)) {
      this.inUse.set(wanted, vmId);
      return wanted;
    }
    const ip = allocateAddress(this.subnet, new Set(this.inUse.keys()));
    if (!ip) throw new Error(`subnet ${this.subnet} has no free address`);
    this.inUse.set(ip, vmId);
    return ip;
  }

  release(vmId: string): void {
    for (const [ip, v] of this.inUse) if (v === vmId) this.inUse.delete(ip);
  }
}
