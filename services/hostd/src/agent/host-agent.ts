import { subjects, type DomainEvent, type EventOf, type HostRegistered, type LeakedResource, type Resources, type Stored } from "@oneshot/proto";
import type { EventStore, Logger } from "@oneshot/runtime";
import { destroyVm, type DestroyDeps } from "../vm/destroy.js";
import type { DoneLog } from "../vm/done-log.js";
import { readRecord, removeRunDir, runDirOf, runFiles, writeRecord, type VmRecord } from "../vm/run-dir.js";
import { VmRunner, type VmDeps } from "../vm/vm-runner.js";
import { tapName } from "../net/vm-address.js";
import type { VmIsolation } from "../net/nft-rules.js";
import {
  admit,
  cordon,
  deregistered,
  drain,
  enqueue,
  finish,
  initialHostState,
  judgePlacement,
  owns,
  shouldDeregister,
  uncordon,
  used,
  type HostState,
  type Placement,
} from "./host-state.js";
import { noFlags, type HostFlags } from "./host-flags.js";
import { reclaimResource } from "./reclaim.js";
import { placementFailure } from "./placement-failure.js";
import type { WarmPool } from "./warm-pool.js";

/** A pool VM's record before its hand-over (warm-runner.ts warmRecord). */
const isWarmRecord = (rec: VmRecord): boolean => rec.jobId === `warm-${rec.vmId}`;

export interface AgentDeps {
  hostId: string;
  stateDir: string;
  store: EventStore;
  log: Logger;
  vm: VmDeps;
  done: DoneLog;
  /** What HostRegistered says (re-sent after an uncordon of a deregistered host, or HostLost). */
  registration: () => HostRegistered["data"];
  correlationId: string;
  /** Keeps cordon/drain across restarts. */
  saveFlags: (f: HostFlags) => Promise<void>;
  /** This host's warm pools (docs/warm-pool.md); absent: none configured. */
  pool?: WarmPool;
}

/**
 * hostd's decisions about the work on its host subject, one event at a time (the durable
 * consumer delivers them in order): placements become VMs (each owned by one VmRunner),
 * reclaim requests run the destroy steps, cordon/drain stop new work. VMs run in the
 * background: the consumer acknowledges a placement once hostd owns it (run dir written,
 * VmBootRequested stored), not when the job ends.
 */
export class HostAgent {
  private state: HostState;
  private readonly runners = new Map<string, VmRunner>();
  private readonly records = new Map<string, VmRecord>();
  private stopping = false;
  /** Sequence of this host's latest HostRegistered: a HostLost at or below it is about an earlier life. */
  private registeredSeq = 0;
  /** Fences run one after another; while one runs nothing new starts. */
  private fenceChain: Promise<unknown> = Promise.resolve();
  private fencing = 0;
  /** VM ids whose placement the janitor expired before this host claimed it: never booted. */
  private readonly expired = new Set<string>();
  /** Sequence of this host's VmBootRequested per VM it claimed (first in the log wins against a PlacementExpired). */
  private readonly claimSeq = new Map<string, number>();
  /** Pool capacity lent to a VM (a warm VM handed its job, a cold VM that preempted warm ones): admitted beyond the registered capacity. */
  private readonly lent = new Map<string, Resources>();
  private readonly baseCapacity: Resources;

  constructor(
    private readonly d: AgentDeps,
    init: Parameters<typeof initialHostState>[0],
    flags: HostFlags = noFlags,
  ) {
    this.state = { ...initialHostState(init), ...flags };
    this.baseCapacity = init.capacity;
  }

  /** `vmId` runs in pool slots of this shape total: hostd admits that much more while it lives. */
  private lend(vmId: string, r: Resources): void {
    if (!r.vcpus && !r.memMiB && !r.diskGiB) return;
    this.lent.set(vmId, r);
    this.recomputeCapacity();
  }

  /** The VM that borrowed pool capacity is gone (or never started): the slots go back to the pool. */
  private giveBack(vmId: string): void {
    this.d.pool?.giveBack(vmId);
    if (this.lent.delete(vmId)) this.recomputeCapacity();
  }

  private recomputeCapacity(): void {
    const c = [...this.lent.values()].reduce(
      (a, r) => ({ vcpus: a.vcpus + r.vcpus, memMiB: a.memMiB + r.memMiB, diskGiB: a.diskGiB + r.diskGiB }),
      this.baseCapacity,
    );
    this.state = { ...this.state, capacity: c };
  }

  /** A fence is running (nothing new may start, warm pools included). */
  get fencingNow(): boolean {
    return this.fencing > 0;
  }

  /** Cordoned/draining/deregistered, as persisted. */
  get flags(): HostFlags {
    return { cordoned: this.state.cordoned, draining: this.state.draining, deregistered: this.state.deregistered };
  }

  private async setState(next: HostState): Promise<void> {
    const before = this.flags;
    this.state = next;
    const after = this.flags;
    if (before.cordoned !== after.cordoned || before.draining !== after.draining || before.deregistered !== after.deregistered) await this.d.saveFlags(after);
  }

  get snapshot(): { state: HostState; used: ReturnType<typeof used> } {
    return { state: this.state, used: used(this.state) };
  }

  async handle(e: Stored<DomainEvent>): Promise<void> {
    switch (e.type) {
      case "JobScheduled":
        return this.onPlacement(e as Stored<EventOf<"JobScheduled">>);
      case "ReclaimRequested":
        return this.onReclaim(e as Stored<EventOf<"ReclaimRequested">>);
      case "VmRetired":
        return this.onRetired(e as Stored<EventOf<"VmRetired">>);
      case "HostCordoned":
        await this.setState(cordon(this.state));
        this.d.log.info({ reason: e.data.reason }, "host cordoned: no new work");
        void this.d.pool?.retireAll("pool-shrunk", `host cordoned: ${e.data.reason}`);
        return;
      case "HostDrained":
        await this.setState(drain(this.state));
        void this.d.pool?.retireAll("pool-shrunk", `host draining: ${e.data.reason}`);
        this.d.log.info(
          { reason: e.data.reason, running: this.state.running.length, queued: this.state.queue.length },
          "host draining: finishing running VMs, then deregistering",
        );
        return this.checkDrained();
      case "HostUncordoned": {
        const wasOut = this.state.deregistered;
        await this.setState(uncordon(this.state));
        this.d.log.info({ reason: e.data.reason }, "host uncordoned: accepting work");
        if (wasOut) await this.register("uncordoned after deregistration");
        this.d.pool?.fill();
        return;
      }
      case "HostLost":
        return this.onLost(e as Stored<EventOf<"HostLost">>);
      case "PlacementExpired":
        return this.onPlacementExpired(e as Stored<EventOf<"PlacementExpired">>);
      default:
        return; // our own HostRegistered/HostDeregistered/ResourceReclaimed, and anything new
    }
  }

  /** Appends HostRegistered (at start with `msgId`, again after an uncordon or a fence) and remembers its sequence. */
  async register(why: string, msgId?: string): Promise<number> {
    const res = await this.d.store.append(
      { type: "HostRegistered", data: this.d.registration() },
      { correlationId: this.d.correlationId, ...(msgId ? { msgId } : {}) },
    );
    this.registeredSeq = Math.max(this.registeredSeq, res.seq);
    this.d.log.info({ why, seq: res.seq }, msgId ? "host registered" : "host registered again");
    return res.seq;
  }

  /**
   * Declared lost while alive (docs/fencing.md): the scheduler will run this host's jobs
   * elsewhere, so every VM here is stopped first (HostFenced says which), and only then does the
   * host register again. A HostLost from before our latest registration is about an earlier life.
   */
  private async onLost(e: Stored<EventOf<"HostLost">>): Promise<void> {
    if (e.seq <= this.registeredSeq) {
      this.d.log.info({ lostSeq: e.seq, registeredSeq: this.registeredSeq }, "HostLost for an earlier registration of this host: nothing to fence");
      return;
    }
    this.d.log.warn({ reason: e.data.reason, lostSeq: e.seq }, "the janitor declared this host lost: fencing (stopping every VM) before registering again");
    await this.fence({ trigger: "host-lost", lostSeq: e.seq, reason: `declared lost (HostLost seq ${e.seq}: ${e.data.reason})` });
    await this.register("declared lost while alive; fenced first");
  }

  /**
   * Stops every VM of this host: running ones killed at once (no clean shutdown: the job may
   * already run elsewhere), queued ones never booted. Waits until no VMM process of theirs is
   * left, then appends HostFenced. The VMs' own VmExited/VmBootFailed and VmDestroyed follow
   * from their runners. Safe to call again (a lease fence, then the HostLost): one at a time.
   */
  fence(o: { trigger: "host-lost" | "lease-expired"; lostSeq: number | null; reason: string }): Promise<string[]> {
    this.fencing++;
    const run = this.fenceChain
      .then(() => this.fenceNow(o))
      .finally(() => {
        this.fencing--;
        this.pump();
      });
    this.fenceChain = run.catch(() => undefined);
    void run.finally(() => this.d.pool?.fill());
    return run;
  }

  private async fenceNow(o: { trigger: "host-lost" | "lease-expired"; lostSeq: number | null; reason: string }): Promise<string[]> {
    const log = this.d.log.child({ fence: o.trigger });
    const running = [...this.runners.keys()];
    for (const runner of this.runners.values()) void runner.kill(`fenced: ${o.reason}`, 0);
    // Pool VMs run nothing, but the fence's promise is that no VM of this host runs.
    const warm = this.d.pool?.ids() ?? [];
    void this.d.pool?.retireAll("killed", `fenced: ${o.reason}`, 0);
    running.push(...warm);
    const queued = this.state.queue.map((p) => p.vmId);
    for (const vmId of queued) {
      void this.finishQueued(vmId, "fenced", `host fenced before it started: ${o.reason}`).catch((err: unknown) =>
        log.error({ err, vmId }, "cannot end a queued placement after the fence"),
      );
    }
    await this.untilVmmsGone(running, log);
    const vmsStopped = [...running, ...queued];
    const data = {
      hostId: this.d.hostId,
      registeredSeq: this.registeredSeq,
      lostSeq: o.lostSeq,
      trigger: o.trigger,
      vmsStopped: vmsStopped.slice(0, 1024),
      reason: o.reason.slice(0, 512),
    };
    await this.appendRetrying(
      { type: "HostFenced", data },
      { msgId: `fenced:${this.d.hostId}:${this.registeredSeq}:${o.lostSeq ?? `lease-${Date.now()}`}`, correlationId: this.d.correlationId },
      log,
    );
    log.warn({ vmsStopped, lostSeq: o.lostSeq }, "host fenced: no VM of this host runs");
    return vmsStopped;
  }

  /** Polls the driver until none of these VMs has a VMM process left (a kill in D state can take a while: said every 10 s). */
  private async untilVmmsGone(vmIds: string[], log: Logger): Promise<void> {
    if (!vmIds.length) return;
    const want = new Set(vmIds);
    const t0 = performance.now();
    let said = t0;
    for (;;) {
      const left = (await this.d.vm.driver.list().catch(() => [{ vmId: "?", pid: 0 }])).filter((p) => want.has(p.vmId) || p.vmId === "?");
      if (!left.length) return;
      if (performance.now() - said > 10_000) {
        said = performance.now();
        log.error({ left, waitedMs: Math.round(said - t0) }, "fence: VMM processes still running after the kill");
        for (const vmId of new Set(left.map((p) => p.vmId))) void this.runners.get(vmId)?.kill("fenced", 0);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async appendRetrying(event: DomainEvent, opts: { msgId: string; correlationId: string }, log: Logger): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.d.store.append(event, opts);
        return;
      } catch (err) {
        if (!(err as { retryable?: boolean }).retryable) throw err;
        if (attempt % 10 === 1) log.warn({ err, type: event.type, attempt }, "cannot append; retrying");
        await new Promise((r) => setTimeout(r, Math.min(5_000, 200 * attempt)));
      }
    }
  }

  /**
   * The janitor found this placement unclaimed past JANITOR_PLACEMENT_TIMEOUT (the scheduler has
   * freed its capacity). First in the log wins: if our VmBootRequested came before it, it is
   * void; otherwise the VM must not run. A placement we never read is remembered, not booted.
   */
  private async onPlacementExpired(e: Stored<EventOf<"PlacementExpired">>): Promise<void> {
    const { vmId } = e.data;
    const log = this.d.log.child({ vmId, jobId: e.data.jobId });
    const claimed = this.claimSeq.get(vmId);
    if (claimed !== undefined && claimed < e.seq) {
      log.info({ claimSeq: claimed, expirySeq: e.seq }, "PlacementExpired after our claim: void");
      return;
    }
    this.expired.add(vmId);
    if (this.isQueued(vmId)) return this.finishQueued(vmId, "placement-expired", `placement expired before it started: ${e.data.reason}`);
    const runner = this.runners.get(vmId);
    if (runner) {
      log.warn({ reason: e.data.reason }, "placement expired before our claim was stored: stopping the VM");
      void runner.kill(`placement expired: ${e.data.reason}`, 0);
      return;
    }
    log.info({ reason: e.data.reason }, "placement expired before this host read it: it will not run");
  }

  private async onPlacement(e: Stored<EventOf<"JobScheduled">>): Promise<void> {
    const readAt = performance.now();
    const { vmId, jobId } = e.data;
    const log = this.d.log.child({ vmId, jobId });
    if (this.stopping) throw Object.assign(new Error("hostd is stopping"), { retryable: true });
    // A lease fence running beside the consumer finishes first: a placement is never booted under it.
    if (this.fencing) await this.fenceChain;
    if (owns(this.state, vmId) || this.d.done.has(vmId)) {
      log.info("placement already handled (redelivery)");
      return;
    }
    if (this.expired.has(vmId)) {
      log.warn("placement already expired (PlacementExpired): not running it");
      return;
    }
    const runDir = runDirOf(this.d.stateDir, vmId);
    try {
      if (e.data.start === "warm") return await this.acceptWarm(e, runDir, readAt, log);
      this.d.pool?.noteMiss(e.data.spec);
      if (e.data.preempts?.length && this.d.pool) {
        // Their pool slots become this VM's: destroyed first, so the host never runs both.
        const got = await this.d.pool.preempt(e.data.preempts, vmId);
        log.info({ preempted: e.data.preempts.map((p) => p.vmId), slots: got.length }, "warm VMs preempted for a cold placement");
        this.lend(
          vmId,
          got.reduce((a, s) => ({ vcpus: a.vcpus + s.vcpus, memMiB: a.memMiB + s.memMiB, diskGiB: a.diskGiB + s.diskGiB }), {
            vcpus: 0,
            memMiB: 0,
            diskGiB: 0,
          }),
        );
      }
      await this.accept(e, runDir, log);
      if (!owns(this.state, vmId)) this.giveBack(vmId);
    } catch (err) {
      // A NATS outage is retried (redelivery); anything else (ENOSPC, EIO, a bug) ends the
      // placement in VmBootFailed with the reason, or its capacity would stay reserved.
      const failure = placementFailure(err);
      if (!failure) throw err;
      await this.failPlacement(e, runDir, failure, log);
    }
  }

  private async accept(e: Stored<EventOf<"JobScheduled">>, runDir: string, log: Logger): Promise<void> {
    const { vmId, jobId, spec, attempt } = e.data;
    const existing = await readRecord(runDir);
    if (existing && existing.hostId === this.d.hostId) {
      // Ours from before a crash between writing the record and the ack: recover() handles it.
      log.info("placement already owned by this host (run dir exists)");
      return;
    }
    const p: Placement = { vmId, jobId, spec };
    const verdict = judgePlacement(this.state, p);
    if (verdict.kind === "duplicate") return;
    const rec: VmRecord = {
      vmId,
      jobId,
      hostId: this.d.hostId,
      attempt,
      spec,
      // Whether the job needs the broker is whether its script came inline: no provider test here.
      kind: e.data.script !== undefined ? "script" : "runner",
      correlationId: e.correlationId,
      scheduledEventId: e.id,
      ...(e.data.script !== undefined ? { script: e.data.script } : {}),
      phase: "accepted",
      acceptedAt: new Date().toISOString(),
      events: {},
    };
    // Record first, then the claim: a crash between the two leaves a run dir that recover() finishes.
    await writeRecord(runDir, rec);
    const files = runFiles(runDir, this.d.vm.driver.rootDiskFormat);
    const claim = await this.d.vm.events.append(rec, runDir, "VmBootRequested", {
      vmId,
      hostId: this.d.hostId,
      jobId,
      tap: tapName(vmId),
      disks: [files.rootDisk, files.configDisk],
    });
    if (claim.seq !== undefined) this.claimSeq.set(vmId, claim.seq);
    if (claim.duplicate) {
      // Stored before by an earlier life of this host whose run dir is gone: it already ran.
      log.warn("VmBootRequested was already on the log: not running this placement again");
      await removeRunDir(runDir);
      return;
    }
    if (verdict.kind === "reject") {
      log.warn({ code: verdict.code, reason: verdict.reason }, "placement refused");
      await this.d.vm.events.append(rec, runDir, "VmBootFailed", {
        vmId,
        hostId: this.d.hostId,
        jobId,
        code: verdict.code,
        reason: verdict.reason,
        consoleTail: "",
      });
      const runner = new VmRunner(this.d.vm, rec, runDir);
      await runner.destroy(log);
      return;
    }
    this.records.set(vmId, rec);
    this.state = enqueue(this.state, p);
    log.info({ spec, queued: this.state.queue.length, running: this.state.running.length }, "placement accepted");
    this.pump();
  }

  /**
   * A placement that hands the job to a ready warm VM of ours (docs/warm-pool.md): the VM
   * becomes the job's (its record, VmBootRequested), counts as running, and gets the job on its
   * job drive. When it is not ready here any more (retired meanwhile, or an earlier life's), the
   * placement fails like any boot (VmBootFailed `warm-vm-gone`, VmDestroyed) and the scheduler
   * places the job again.
   */
  private async acceptWarm(e: Stored<EventOf<"JobScheduled">>, runDir: string, readAt: number, log: Logger): Promise<void> {
    const { vmId, jobId, spec, attempt } = e.data;
    const verdict = judgePlacement(this.state, { vmId, jobId, spec });
    if (verdict.kind === "duplicate") return;
    const runner = verdict.kind === "accept" ? this.d.pool?.take(vmId) : undefined;
    if (!runner) {
      const reason = verdict.kind === "reject" ? verdict.reason : `warm VM ${vmId} is not ready on this host (retired, or from before a restart)`;
      return this.failPlacement(e, runDir, { code: verdict.kind === "reject" ? verdict.code : "warm-vm-gone", reason }, log);
    }
    // The job runs in the warm VM's own pool slot (docs/warm-pool.md): admitted beyond the registered capacity.
    this.lend(vmId, { vcpus: spec.vcpus, memMiB: spec.memMiB, diskGiB: spec.diskGiB });
    const rec = runner.rec;
    Object.assign(rec, {
      jobId,
      attempt,
      spec,
      kind: e.data.script !== undefined ? "script" : "runner",
      correlationId: e.correlationId,
      scheduledEventId: e.id,
      acceptedAt: new Date().toISOString(),
      events: {},
    });
    if (e.data.script !== undefined) rec.script = e.data.script;
    await writeRecord(runDir, rec);
    const files = runFiles(runDir, this.d.vm.driver.rootDiskFormat);
    // The claim is stored while the job drive is filled (the hand-over's latency is the point of
    // a warm VM); VmBooted waits for it, so the log's order is a cold VM's.
    const claiming = this.d.vm.events.append(rec, runDir, "VmBootRequested", {
      vmId,
      hostId: this.d.hostId,
      jobId,
      tap: tapName(vmId),
      disks: [files.rootDisk, files.configDisk],
    });
    const handed = runner.handOver(readAt, claiming);
    const claim = await claiming;
    if (claim.seq !== undefined) this.claimSeq.set(vmId, claim.seq);
    const p: Placement = { vmId, jobId, spec };
    this.records.set(vmId, rec);
    this.runners.set(vmId, runner);
    // Already running: admitted as it is (its capacity is the job's reservation from now on).
    this.state = { ...this.state, running: [...this.state.running, p] };
    void runner.done.finally(() => {
      this.runners.delete(vmId);
      this.records.delete(vmId);
      this.state = finish(this.state, vmId);
      this.giveBack(vmId);
      this.pump();
      void this.checkDrained().catch((err: unknown) => this.d.log.error({ err }, "cannot append HostDeregistered"));
    });
    if (!handed) {
      log.warn("warm VM stopped waiting just before the hand-over: it is destroyed with the job's events");
      void runner.kill("hand-over raced its retirement");
    }
    log.info({ spec, running: this.state.running.length }, "placement handed to a warm VM");
  }

  /**
   * A placement that could not be accepted: VmBootFailed with the reason, whatever is left of its
   * run dir removed, VmDestroyed, so the scheduler frees its capacity and decides (requeue, or
   * fail after SCHEDULER_MAX_ATTEMPTS). Writes nothing to disk that it needs (the disk may be full).
   */
  private async failPlacement(e: Stored<EventOf<"JobScheduled">>, runDir: string, f: { code: string; reason: string }, log: Logger): Promise<void> {
    const { vmId, jobId, attempt, spec } = e.data;
    log.error({ code: f.code, reason: f.reason }, "placement cannot be accepted: failing its boot");
    const rec: VmRecord = {
      vmId,
      jobId,
      hostId: this.d.hostId,
      attempt,
      spec,
      kind: e.data.script !== undefined ? "script" : "runner",
      correlationId: e.correlationId,
      scheduledEventId: e.id,
      phase: "accepted",
      acceptedAt: new Date().toISOString(),
      events: {},
    };
    this.records.delete(vmId);
    this.giveBack(vmId);
    const removed = await removeRunDir(runDir).then(
      (r) => (r ? [`rundir:${runDir}`] : []),
      (err: unknown) => [`failed:rundir ${String(err).slice(0, 200)}`],
    );
    await this.d.vm.events.append(rec, undefined, "VmBootFailed", {
      vmId,
      hostId: this.d.hostId,
      jobId,
      code: f.code,
      reason: f.reason.slice(0, 1024),
      consoleTail: "",
    });
    await this.d.vm.events.append(rec, undefined, "VmDestroyed", { vmId, hostId: this.d.hostId, jobId, removed });
    await this.d.done
      .add(vmId, new Date())
      .catch((err: unknown) => log.warn({ err }, "cannot journal the failed placement as done (a redelivery fails it again, idempotently)"));
  }

  /** Starts every queued VM that fits now (none while a fence runs). */
  private pump(): void {
    if (this.stopping || this.fencing) return;
    const { state, start } = admit(this.state);
    this.state = state;
    for (const p of start) {
      const rec = this.records.get(p.vmId)!;
      const runner = new VmRunner(this.d.vm, rec, runDirOf(this.d.stateDir, p.vmId));
      this.runners.set(p.vmId, runner);
      void runner.run().finally(() => {
        this.runners.delete(p.vmId);
        this.records.delete(p.vmId);
        this.state = finish(this.state, p.vmId);
        this.giveBack(p.vmId);
        this.pump();
        void this.checkDrained().catch((err: unknown) => this.d.log.error({ err }, "cannot append HostDeregistered"));
      });
    }
  }

  private async checkDrained(): Promise<void> {
    if (!shouldDeregister(this.state)) return;
    await this.setState(deregistered(this.state));
    // On its own `.self` subject: hostd may not write its host subject (that is where its work comes from).
    await this.d.store.append(
      { type: "HostDeregistered", data: { hostId: this.d.hostId, reason: "drained: every VM finished" } },
      { correlationId: this.d.correlationId, subject: subjects.hostSelf(this.d.hostId) },
    );
    this.d.log.info("host drained and deregistered");
  }

  private async onReclaim(e: Stored<EventOf<"ReclaimRequested">>): Promise<void> {
    const reclaimed: LeakedResource[] = [];
    const failed: (LeakedResource & { error: string })[] = [];
    for (const r of e.data.resources) {
      try {
        await this.reclaimOne(r);
        reclaimed.push(r);
      } catch (err) {
        failed.push({ ...r, error: (err as Error).message.slice(0, 512) });
      }
    }
    await this.d.store.append(
      { type: "ResourceReclaimed", data: { hostId: this.d.hostId, reclaimId: e.data.reclaimId, reclaimed, failed } },
      { msgId: `reclaimed:${this.d.hostId}:${e.data.reclaimId}`, correlationId: e.correlationId, causationId: e.id },
    );
    this.d.log.info({ reclaimId: e.data.reclaimId, reclaimed: reclaimed.length, failed: failed.length }, "reclaim done");
  }

  /** A live VM is stopped by its runner (one owner); anything else by the destroy steps. */
  private async reclaimOne(r: LeakedResource): Promise<void> {
    const vmId = r.vmId ?? (r.kind === "vm" ? r.name : undefined);
    const runner = vmId ? this.runners.get(vmId) : undefined;
    if (runner && (r.kind === "vm" || r.kind === "rundir")) return runner.kill(`reclaim: ${r.kind} ${r.name}`);
    if (vmId && this.isQueued(vmId)) return this.finishQueued(vmId, "reclaimed", "reclaimed before it started");
    if (runner) throw new Error(`${r.kind} ${r.name} belongs to running VM ${vmId}; reclaim the vm itself`);
    await reclaimResource({ ...this.destroyDeps(), hostId: this.d.hostId }, this.d.stateDir, r);
  }

  private isQueued(vmId: string): boolean {
    return this.state.queue.some((p) => p.vmId === vmId);
  }

  /** A VM still in the admission queue ends without booting: VmBootFailed(code), then the destroy steps. */
  private async finishQueued(vmId: string, code: string, reason: string): Promise<void> {
    this.state = finish(this.state, vmId);
    this.giveBack(vmId);
    const rec = this.records.get(vmId)!;
    this.records.delete(vmId);
    const runDir = runDirOf(this.d.stateDir, vmId);
    await this.d.vm.events.append(rec, runDir, "VmBootFailed", {
      vmId,
      hostId: this.d.hostId,
      jobId: rec.jobId,
      code,
      reason: reason.slice(0, 1024),
      consoleTail: "",
    });
    await new VmRunner(this.d.vm, rec, runDir).destroy(this.d.log.child({ vmId, jobId: rec.jobId }));
    this.pump();
    await this.checkDrained();
  }

  /**
   * The provider confirmed the VM's runner runs nothing and can take nothing: end it now, by
   * the same path as a reclaim (a live VM through its runner, a queued one before it boots).
   * The consumer does not wait for a live VM's destroy: its runner owns that and reports it.
   */
  private async onRetired(e: Stored<EventOf<"VmRetired">>): Promise<void> {
    const { vmId, reason } = e.data;
    const log = this.d.log.child({ vmId });
    const runner = this.runners.get(vmId);
    if (runner) {
      log.info({ reason }, "VM retired: killing it");
      void runner.kill(`retired: ${reason}`).then(() => log.info("retired VM destroyed"));
      return;
    }
    if (this.isQueued(vmId)) {
      log.info({ reason }, "VM retired before it started: not booting it");
      return this.finishQueued(vmId, "retired", `retired before it started: ${reason}`);
    }
    log.info({ reason, done: this.d.done.has(vmId) }, "VmRetired for a VM this host does not run: ignored");
  }

  private destroyDeps(): DestroyDeps {
    return { driver: this.d.vm.driver, nft: this.d.vm.nft, links: this.d.vm.links, beforeRulesRemoved: this.d.vm.beforeRulesRemoved };
  }

  /**
   * At start, before consuming: VMs of ours left by an earlier life of this process. Accepted
   * but never started → queued again. Started → cannot be resumed (its console went with the
   * old process): destroyed, with the events it still owes (VmBootFailed or VmExited, then
   * VmDestroyed). A run dir without a readable record is left to the janitor (inventory).
   */
  async recover(runDirs: string[]): Promise<void> {
    // VMs destroyed on the machine whose VmDestroyed was not stored yet.
    for (const p of this.d.done.pending()) {
      const rec = { vmId: p.vmId, jobId: p.jobId, correlationId: p.correlationId, scheduledEventId: p.causationId, events: {} } as unknown as VmRecord;
      await this.d.vm.events.append(rec, undefined, "VmDestroyed", { vmId: p.vmId, hostId: this.d.hostId, jobId: p.jobId, removed: p.removed });
      await this.d.done.add(p.vmId, new Date());
      this.d.log.info({ vmId: p.vmId }, "VmDestroyed from before a restart stored");
    }
    for (const vmId of runDirs) {
      const runDir = runDirOf(this.d.stateDir, vmId);
      const rec = await readRecord(runDir);
      const log = this.d.log.child({ vmId, jobId: rec?.jobId });
      if (rec && rec.hostId !== this.d.hostId) continue;
      if (rec && isWarmRecord(rec)) {
        // A pool VM of an earlier life, never handed a job: destroyed, as its pool refills anew.
        const removed = await destroyVm(this.destroyDeps(), vmId, runDir, { keepRecord: true, graceMs: 0 }).catch((err: unknown) => [
          `failed:${String(err).slice(0, 200)}`,
        ]);
        await removeRunDir(runDir);
        await this.d.store.append(
          {
            type: "WarmVmRetired",
            data: { hostId: this.d.hostId, vmId, reason: "killed", detail: "hostd restarted: a warm VM is not taken back", removed: removed.slice(-32) },
          },
          { msgId: `vm:${vmId}:WarmVmRetired`, correlationId: rec.correlationId },
        );
        log.info("warm VM from before a restart retired");
        continue;
      }
      if (!rec) {
        // Maybe another hostd sharing this state dir is creating it right now: the janitor
        // decides from the inventory, which reports it.
        log.warn({ runDir }, "run dir without a record: left for the janitor");
        continue;
      }
      const learnt = await this.d.vm.events.syncFromLog(rec, runDir);
      if (learnt.length) log.info({ learnt }, "VM record behind the log (a crash between an append and the record's write): caught up");
      if (rec.events.VmDestroyed) {
        await this.d.done.add(vmId, new Date());
        await removeRunDir(runDir);
        continue;
      }
      if (rec.phase === "accepted" && !rec.events.VmBootFailed) {
        const files = runFiles(runDir, this.d.vm.driver.rootDiskFormat);
        await this.d.vm.events.append(rec, runDir, "VmBootRequested", {
          vmId,
          hostId: this.d.hostId,
          jobId: rec.jobId,
          tap: tapName(vmId),
          disks: [files.rootDisk, files.configDisk],
        });
        this.records.set(vmId, rec);
        this.state = enqueue(this.state, { vmId, jobId: rec.jobId, spec: rec.spec });
        log.info("placement from before a restart queued again");
        continue;
      }
      if (!rec.events.VmBooted && !rec.events.VmBootFailed) {
        await this.d.vm.events.append(rec, runDir, "VmBootFailed", {
          vmId,
          hostId: this.d.hostId,
          jobId: rec.jobId,
          code: "hostd-restart",
          reason: "hostd restarted while the VM was booting",
          consoleTail: "",
        });
      } else if (rec.events.VmBooted && !rec.events.VmExited) {
        await this.d.vm.events.append(rec, runDir, "VmExited", { vmId, hostId: this.d.hostId, jobId: rec.jobId, exitCode: null, reason: "killed", runMs: 0 });
      }
      log.warn({ phase: rec.phase }, "VM from before a restart: destroying it");
      await new VmRunner(this.d.vm, rec, runDir).destroy(log);
    }
    this.pump();
  }

  /** Every VM whose isolation must hold right now (its rules exist, its destroy has not begun): the isolation guard's list. */
  isolationTargets(): VmIsolation[] {
    return [...this.runners.values()].flatMap((r) => r.isolation() ?? []).concat(this.d.pool?.isolationTargets() ?? []);
  }

  /**
   * Isolation is lost and cannot be restored: every VM that should be isolated is stopped at
   * once (no clean shutdown: it runs unisolated meanwhile) and VmIsolationLost says why; its
   * VmExited (`killed`) and VmDestroyed follow from its runner. Returns the VM ids.
   */
  async failClosed(reason: string): Promise<string[]> {
    const ended: string[] = this.d.pool?.ids() ?? [];
    void this.d.pool?.retireAll("killed", `isolation lost: ${reason}`, 0);
    for (const [vmId, runner] of this.runners) {
      if (!runner.isolation()) continue;
      ended.push(vmId);
      void runner.kill(`isolation lost: ${reason}`, 0);
      const { rec } = runner;
      await this.d.store
        .append(
          { type: "VmIsolationLost", data: { vmId, hostId: this.d.hostId, jobId: rec.jobId, action: "killed", reason: reason.slice(0, 512) } },
          {
            msgId: `vm:${vmId}:VmIsolationLost`,
            correlationId: rec.correlationId,
            causationId: rec.events.VmBooted ?? rec.events.VmBootRequested ?? rec.scheduledEventId,
          },
        )
        .catch((err: unknown) => this.d.log.error({ err, vmId }, "cannot append VmIsolationLost (the VM is being killed anyway)"));
    }
    return ended;
  }

  /** Shutdown: no new VMs; running ones are stopped and destroyed (queued ones resume at the next start). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.runners.values()].map((r) => r.kill("hostd stopping")).concat(this.d.pool ? [this.d.pool.stop()] : []));
  }
}
