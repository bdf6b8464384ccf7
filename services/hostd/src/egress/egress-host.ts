import type { EventStore, Logger } from "@oneshot/runtime";
import { cidrContains, parseCidr } from "../net/ipv4.js";
import type { Nft } from "../net/nft.js";
import type { VmIsolation } from "../net/nft-rules.js";
import { classify, dueReports, emptyDeniedState, noteQuery, noteResolved, noteSamples, type DeniedSample, type EgressOwner } from "./denied-window.js";
import { AllowCache } from "./allow-cache.js";
import { DnsProxy } from "./dns-proxy.js";
import type { TtlBounds } from "./policy.js";

export interface EgressHostDeps {
  hostId: string;
  bridge: string;
  nft: Nft;
  store: EventStore;
  log: Logger;
  /** Every VM isolated right now (the isolation guard's list): addresses, modes, jobs. */
  vms: () => VmIsolation[];
  /** The forbidden set as the guard last read it (to tell a forbidden drop from a not-allowed one). */
  forbidden: () => readonly string[];
  /** The DNS proxy: where it listens (the gateway) and asks; absent = no proxy (HOSTD_DNS_PROXY=0). */
  proxy?: { listen: { address: string; port: number }; upstream: { address: string; port: number }; ttl: TtlBounds };
  /** At most one VmEgressDenied per VM per this many ms (the first comes at once). */
  reportIntervalMs: number;
}

/**
 * The egress policy's host side (docs/egress-policy.md): the DNS proxy, and the reporter that
 * polls nft's `denied` set and appends VmEgressDenied per VM, aggregated and rate limited.
 */
export class EgressHost {
  readonly proxy: DnsProxy | undefined;
  private readonly state = emptyDeniedState();
  /** What the proxy put into allow sets: repeat lookups skip nft, and a rebuilt table (flushed ruleset) gets it back. */
  private readonly resolved = new AllowCache();

  constructor(private readonly d: EgressHostDeps) {
    this.proxy = d.proxy
      ? new DnsProxy({
          listen: d.proxy.listen,
          upstream: d.proxy.upstream,
          ttl: d.proxy.ttl,
          log: d.log.child({ component: "dns-proxy" }),
          vmAt: (address) => {
            const v = this.vmAt(address);
            return v && { vmId: v.vmId, policy: v.owner?.policy };
          },
          allow: async (vm, entries) => {
            const vmId = this.vmAt(vm)?.vmId ?? "";
            const now = Date.now();
            const fresh = this.resolved.toAdd(vmId, vm, entries, now);
            if (!fresh.length) return;
            await d.nft.allowResolved(d.bridge, vm, fresh);
            this.resolved.added(vmId, vm, fresh, now);
          },
          noteQuery: (vm, name, action) => {
            const o = this.ownerAt(vm);
            if (o) noteQuery(this.state, vm, o, name, action, Date.now());
          },
          noteResolved: (vm, name, addresses) => {
            const o = this.ownerAt(vm);
            if (o) noteResolved(this.state, vm, o, name, addresses, Date.now());
          },
        })
      : undefined;
  }

  private vmAt(address: string): VmIsolation | undefined {
    return this.d.vms().find((v) => v.net.address === address);
  }

  private ownerAt(address: string): EgressOwner | undefined {
    // A VM whose destroy has begun is no longer an isolation target, but its last drops are still its own.
    const v = this.vmAt(address) ?? this.known.get(address)?.vm;
    if (!v || !v.owner) return undefined;
    return { vmId: v.vmId, hostId: this.d.hostId, jobId: v.owner.jobId, mode: v.egress?.mode ?? "open", source: v.owner.policy?.source ?? "default" };
  }

  async start(): Promise<void> {
    await this.proxy?.start();
  }

  async stop(): Promise<void> {
    await this.proxy?.stop();
    await this.poll().catch(() => undefined);
  }

  /** After a rebuild of the tables (their sets start empty): what the proxy resolved and is still valid goes back in. */
  async reapply(): Promise<void> {
    // The new `denied` set counts from zero: compared with the old counters, new drops would be lost.
    this.state.seen.clear();
    for (const [vm, entries] of this.prune()) await this.d.nft.allowResolved(this.d.bridge, vm, entries);
  }

  private prune() {
    return this.resolved.prune(Date.now(), new Set(this.d.vms().map((v) => `${v.vmId}|${v.net.address}`)));
  }

  /** One poll: read the denied counters, fold them in, append what is due. */
  async poll(): Promise<void> {
    const now = Date.now();
    const elements = await this.d.nft.deniedElements(this.d.bridge);
    const samples: DeniedSample[] = elements.flatMap((e) => {
      const [vm, address, proto, port] = e.key;
      if (!vm || !address || (proto !== "tcp" && proto !== "udp")) return [];
      return [{ vm, address, protocol: proto, port: Number(port), packets: e.packets ?? 0 }];
    });
    const forbidden = this.d.forbidden().map(parseCidr);
    const isForbidden = (a: string) => forbidden.some((c) => cidrContains(c, a));
    noteSamples(
      this.state,
      samples,
      (vm) => this.ownerAt(vm),
      (s, o) => classify(s, o.mode, isForbidden, !!this.proxy),
      now,
    );
    const vms = this.d.vms();
    const reports = dueReports(this.state, now, this.d.reportIntervalMs, (vm, vmId) => vms.some((v) => v.net.address === vm && v.vmId === vmId));
    for (const data of reports) {
      const v = vms.find((x) => x.vmId === data.vmId) ?? [...this.known.values()].find((k) => k.vm.vmId === data.vmId)?.vm;
      // Three tries with the same msgId (stored once): a report is the only record of what was dropped.
      for (let attempt = 1; ; attempt++) {
        try {
          await this.d.store.append(
            { type: "VmEgressDenied", data },
            {
              msgId: `vm:${data.vmId}:VmEgressDenied:${data.windowEnd}`,
              correlationId: v?.owner?.correlationId ?? data.jobId,
              ...(v?.owner?.causationId ? { causationId: v.owner.causationId } : {}),
            },
          );
          break;
        } catch (err) {
          this.d.log.warn({ err, vmId: data.vmId, attempt }, "cannot append VmEgressDenied");
          if (attempt >= 3 || !(err as { retryable?: boolean }).retryable) break;
          await new Promise((r) => setTimeout(r, 500 * attempt));
        }
      }
      this.d.log.info({ vmId: data.vmId, mode: data.mode, destinations: data.destinations.length, queries: data.queries.length }, "egress denied (reported)");
    }
    this.prune();
    this.remember(vms, now);
  }

  /**
   * Who was last seen at each address, kept a minute after it left the isolation targets: a
   * VM whose destroy has begun, or that was destroyed between two polls, still owns its last
   * drops (the destroy reads the counters before its elements go). A new VM on the address
   * takes it over at once (vmAt first).
   */
  private readonly known = new Map<string, { vm: VmIsolation; seenAt: number }>();
  private remember(vms: VmIsolation[], now: number): void {
    for (const v of vms) this.known.set(v.net.address, { vm: v, seenAt: now });
    for (const [address, k] of this.known) if (now - k.seenAt > 60_000) this.known.delete(address);
  }
}

/** Where guests' DNS goes with the proxy on: their gateway (the bridge's own address). */
export { gatewayOf as proxyAddressOf } from "../net/vm-address.js";
