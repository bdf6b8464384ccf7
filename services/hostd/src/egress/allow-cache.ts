/** One resolved address in a VM's allow set, as the proxy put it there. */
interface Entry {
  vmId: string;
  vm: string;
  address: string;
  expiresMs: number;
}

/**
 * What the DNS proxy has put into the allow sets, and until when (pure: times are inputs). Two
 * uses: a lookup whose addresses are already in the VM's set with at least half their new
 * timeout left costs no `nft` call (one call is most of a lookup's cost: bench/egress.bench.ts);
 * and a rebuilt table (its sets start empty) gets the unexpired entries back. Keyed by VM id and
 * address, so a new VM on a reused address never counts on the last one's entries.
 */
export class AllowCache {
  private readonly entries = new Map<string, Entry>();

  private static key = (vmId: string, vm: string, address: string) => `${vmId}|${vm}|${address}`;

  /** The entries that need an `nft` call now. */
  toAdd<T extends { address: string; timeoutSec: number }>(vmId: string, vm: string, want: T[], nowMs: number): T[] {
    return want.filter((e) => {
      const have = this.entries.get(AllowCache.key(vmId, vm, e.address));
      return !have || have.expiresMs - nowMs < (e.timeoutSec * 1000) / 2;
    });
  }

  added(vmId: string, vm: string, entries: { address: string; timeoutSec: number }[], nowMs: number): void {
    for (const e of entries) this.entries.set(AllowCache.key(vmId, vm, e.address), { vmId, vm, address: e.address, expiresMs: nowMs + e.timeoutSec * 1000 });
  }

  /** Drops expired entries and those of VMs no longer there (`live`: `vmId|address` of every VM); returns what is left per VM address, with the time left. */
  prune(nowMs: number, live: ReadonlySet<string>): Map<string, { address: string; timeoutSec: number }[]> {
    const out = new Map<string, { address: string; timeoutSec: number }[]>();
    for (const [k, e] of this.entries) {
      if (e.expiresMs <= nowMs || !live.has(`${e.vmId}|${e.vm}`)) {
        this.entries.delete(k);
        continue;
      }
      out.set(e.vm, [...(out.get(e.vm) ?? []), { address: e.address, timeoutSec: Math.ceil((e.expiresMs - nowMs) / 1000) }]);
    }
    return out;
  }

  get size(): number {
    return this.entries.size;
  }
}
