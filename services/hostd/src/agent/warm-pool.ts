import { randomBytes } from "node:crypto";
import type { Resources, WarmPoolStatus, WarmShape } from "@oneshot/proto";
import type { EventStore, Logger } from "@oneshot/runtime";
import type { VmIsolation } from "../net/nft-rules.js";
import { runDirOf } from "../vm/run-dir.js";
import type { VmDeps } from "../vm/vm-runner.js";
import { WarmVmRunner, warmRecord, type RetireReason } from "../vm/warm-runner.js";

/** One pool of a host: `size` warm VMs of `shape` (HOSTD_WARM_POOLS). */
export interface PoolSpec {
  shape: WarmShape;
  size: number;
}

/** What the pool counts (hostd's /metrics and its log lines). */
export interface PoolCounters {
  hits: number;
  misses: number;
  fills: number;
  fillFailures: number;
  retired: number;
  /** The last fill's boot → ready (ms) and the total over all fills (for a mean). */
  lastRefillMs: number;
  refillMsTotal: number;
}

export interface WarmPoolDeps {
  hostId: string;
  stateDir: string;
  store: EventStore;
  log: Logger;
  vm: VmDeps;
  pools: PoolSpec[];
  maxAgeSec: number;
  /** Whether new warm VMs may boot now (not stopping, fencing, cordoned or draining). */
  canFill: () => boolean;
  /** A fresh VM id (`w` + 11 of [a-z0-9]); injectable for tests. */
  newVmId?: () => string;
  /** After a failed fill, the next one of that pool waits this long (ms). */
  failureBackoffMs?: number;
}

/** Capacity the pools hold (withheld from HostRegistered, docs/warm-pool.md). */
export function poolReservation(pools: readonly PoolSpec[]): Resources {
  return pools.reduce(
    (r, p) => ({ vcpus: r.vcpus + p.size * p.shape.vcpus, memMiB: r.memMiB + p.size * p.shape.memMiB, diskGiB: r.diskGiB + p.size * p.shape.diskGiB }),
    { vcpus: 0, memMiB: 0, diskGiB: 0 },
  );
}

export const sameShape = (a: WarmShape, b: WarmShape): boolean =>
  a.arch === b.arch && a.vcpus === b.vcpus && a.memMiB === b.memMiB && a.diskGiB === b.diskGiB && a.image === b.image;

const ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789";
/** `w` + 11 random [a-z0-9]: 12 chars (a tap name `os-<vmId>` fits), never a job's derived id (10 chars). */
export const newWarmVmId = (): string => `w${[...randomBytes(11)].map((b) => ID_CHARS[b % 36]).join("")}`;

/**
 * The host's warm pools (docs/warm-pool.md): keeps each at its size with VMs that ran nothing,
 * hands a ready one out once (`take`), and refills. A slot is either a pool VM or lent: to the
 * job a warm VM was handed (it runs in the slot), or to a cold job that preempted the slot's VM.
 * A lent slot refills when that job's VM is destroyed (`giveBack`), so pool VMs and the VMs
 * borrowing their slots never hold more than the capacity the pools withheld from registration.
 */
export class WarmPool {
  private readonly vms = new Map<string, WarmVmRunner>();
  /** Slots lent, by the VM that borrows them. */
  private readonly lent = new Map<string, WarmShape[]>();
  private readonly backoffUntil = new Map<number, number>();
  private stopped = false;
  private refillTimer: NodeJS.Timeout | undefined;
  readonly counters: PoolCounters = { hits: 0, misses: 0, fills: 0, fillFailures: 0, retired: 0, lastRefillMs: 0, refillMsTotal: 0 };

  constructor(private readonly d: WarmPoolDeps) {}

  get pools(): readonly PoolSpec[] {
    return this.d.pools;
  }

  /** Boots what is missing in every pool (idempotent; call it whenever something may have changed). */
  fill(): void {
    if (this.stopped || !this.d.canFill()) return;
    const now = performance.now();
    this.d.pools.forEach((p, i) => {
      if ((this.backoffUntil.get(i) ?? 0) > now) return;
      let have = [...this.vms.values()].filter((v) => v.state !== "retired" && sameShape(v.shape, p.shape)).length + this.lentOf(p.shape);
      while (have < p.size) {
        this.spawn(i, p.shape);
        have++;
      }
    });
  }

  private spawn(pool: number, shape: WarmShape): void {
    const vmId = (this.d.newVmId ?? newWarmVmId)();
    const rec = warmRecord(this.d.hostId, vmId, shape, new Date());
    const runner = new WarmVmRunner(this.d.vm, { store: this.d.store, maxAgeMs: this.d.maxAgeSec * 1000 }, rec, runDirOf(this.d.stateDir, vmId), shape);
    this.vms.set(vmId, runner);
    const t0 = performance.now();
    void runner.warm.then((ok) => {
      if (ok) {
        this.counters.fills++;
        this.counters.lastRefillMs = Math.round(performance.now() - t0);
        this.counters.refillMsTotal += this.counters.lastRefillMs;
        this.d.log.info({ vmId, refillMs: this.counters.lastRefillMs, ready: this.ready().length }, "warm pool: VM ready");
      } else {
        this.counters.fillFailures++;
        const backoff = this.d.failureBackoffMs ?? 5_000;
        this.backoffUntil.set(pool, performance.now() + backoff);
        this.d.log.warn({ vmId, backoffMs: backoff }, "warm pool: a fill failed; the next one of this pool waits");
        this.later(backoff);
      }
    });
    void runner.run().finally(() => {
      if (this.vms.get(vmId) === runner) {
        this.vms.delete(vmId);
        this.counters.retired++;
        this.fill();
      }
    });
  }

  private later(ms: number): void {
    if (this.refillTimer) return;
    this.refillTimer = setTimeout(() => {
      this.refillTimer = undefined;
      this.fill();
    }, ms + 10);
    this.refillTimer.unref();
  }

  private lentOf(shape: WarmShape): number {
    return [...this.lent.values()].flat().filter((s) => sameShape(s, shape)).length;
  }

  /** The ready warm VM `vmId`, out of the pool for good (its slot lent to it until `giveBack`), or undefined when it is not ready here. */
  take(vmId: string): WarmVmRunner | undefined {
    const runner = this.vms.get(vmId);
    if (!runner || runner.state !== "warm") return undefined;
    this.vms.delete(vmId);
    this.lent.set(vmId, [runner.shape]);
    this.counters.hits++;
    return runner;
  }

  /**
   * A cold placement needs the slots of these warm VMs (JobScheduled.preempts): each is
   * destroyed (or, gone meanwhile, another VM of its shape, or a slot of its shape that is empty)
   * and its slot lent to `forVmId`. Resolves, once they are destroyed, with the shapes lent:
   * only those may be added to what this host admits.
   */
  async preempt(victims: readonly { vmId: string; shape: WarmShape }[], forVmId: string): Promise<WarmShape[]> {
    const got: WarmShape[] = [];
    const ending: Promise<void>[] = [];
    for (const v of victims) {
      const pool = this.d.pools.find((p) => sameShape(p.shape, v.shape));
      if (!pool) continue;
      const runner = this.vms.get(v.vmId) ?? [...this.vms.values()].find((r) => r.state !== "handed-over" && sameShape(r.shape, v.shape));
      if (runner) {
        this.vms.delete(runner.rec.vmId);
        ending.push(runner.retire("preempted", `its capacity went to VM ${forVmId}`, 2_000));
      } else {
        const used =
          [...this.vms.values()].filter((r) => sameShape(r.shape, v.shape)).length + this.lentOf(v.shape) + got.filter((s) => sameShape(s, v.shape)).length;
        if (used >= pool.size) continue;
      }
      got.push(v.shape);
    }
    if (got.length) this.lent.set(forVmId, [...(this.lent.get(forVmId) ?? []), ...got]);
    await Promise.all(ending);
    return got;
  }

  /** The VM that borrowed slots is destroyed: they refill. */
  giveBack(forVmId: string): void {
    if (this.lent.delete(forVmId)) this.fill();
  }

  /** A cold placement whose spec a pool here has: no ready VM was handed it. */
  noteMiss(spec: WarmShape): void {
    if (this.d.pools.some((p) => sameShape(p.shape, spec))) this.counters.misses++;
  }

  /** Ready VMs with their age (ms). */
  ready(): { vmId: string; shape: WarmShape; ageMs: number }[] {
    const now = performance.now();
    return [...this.vms.values()]
      .filter((v) => v.state === "warm")
      .map((v) => ({ vmId: v.rec.vmId, shape: v.shape, ageMs: Math.round(now - (v.warmedAt ?? now)) }));
  }

  /** Each pool as the heartbeat reports it (HostHeartbeat v3 `warmPools`). */
  status(): WarmPoolStatus[] {
    const now = performance.now();
    return this.d.pools.map((p) => {
      const mine = [...this.vms.values()].filter((v) => sameShape(v.shape, p.shape));
      const ready = mine.filter((v) => v.state === "warm");
      return {
        shape: p.shape,
        target: p.size,
        booting: mine.filter((v) => v.state === "booting").length,
        ready: ready.length,
        lent: this.lentOf(p.shape),
        oldestReadySec: Math.round(Math.max(0, ...ready.map((v) => now - (v.warmedAt ?? now))) / 100) / 10,
      };
    });
  }

  /** Ids of every pool VM, booting or ready. */
  ids(): string[] {
    return [...this.vms.keys()];
  }

  /** Every pool VM, booting or ready. */
  get size(): number {
    return this.vms.size;
  }

  /** Isolation the guard must keep for pool VMs. */
  isolationTargets(): VmIsolation[] {
    return [...this.vms.values()].flatMap((r) => r.isolation() ?? []);
  }

  /** Retires every pool VM (a fence, cordon, drain, isolation loss); `fill` brings them back when allowed. */
  async retireAll(reason: RetireReason, detail: string, graceMs?: number): Promise<string[]> {
    const all = [...this.vms.values()];
    await Promise.all(all.map((r) => r.retire(reason, detail, graceMs)));
    return all.map((r) => r.rec.vmId);
  }

  /** hostd stops: no more fills, every pool VM retired. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.refillTimer) clearTimeout(this.refillTimer);
    await this.retireAll("stopping", "hostd stopping");
  }
}
