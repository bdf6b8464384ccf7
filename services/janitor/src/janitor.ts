import { hostname } from "node:os";
import type { KV } from "@nats-io/kv";
import type { DomainEvent, Stored } from "@oneshot/proto";
import { LeaderLease, leaseTtlOf, type EventStore, type Logger, type Nats, type SnapshotPolicy, type SnapshotStore } from "@oneshot/runtime";
import type { Registry } from "prom-client";
import { leakSettings, type JanitorConfig } from "./config.js";
import { appendsOf, type JanitorEvent } from "./core/appends.js";
import { forgetBefore } from "./core/desired-state.js";
import { findLeaks } from "./core/find-leaks.js";
import { findExpiredLeases } from "./core/find-expired-leases.js";
import { findExpiredPlacements } from "./core/find-expired-placements.js";
import { findLostHosts, livenessOf } from "./core/find-lost-hosts.js";
import type { Plan } from "./core/plan.js";
import { DesiredView } from "./desired-view.js";
import { janitorMetrics } from "./metrics.js";
import { TelemetryView } from "./telemetry-view.js";

export interface JanitorDeps {
  nats: Nats;
  store: EventStore;
  /** KV bucket `janitor` (its TTL is the lease TTL). */
  kv: KV;
  config: JanitorConfig;
  log: Logger;
  registry: Registry;
  clock: () => number;
  /** The log follow broke: the process should exit and be restarted. */
  onFatal: (e: unknown) => void;
  /** Snapshots of the desired state (KV bucket `snapshots`, key `janitor.head`); without it every start replays the whole log. */
  snapshots?: { store: SnapshotStore; policy: SnapshotPolicy };
}

export interface Janitor {
  isLeader: () => boolean;
  caughtUp: () => boolean;
  /** Gives up the lease and stops reading. */
  stop: () => Promise<void>;
}

export const LEASE_KEY = "leader";

/**
 * The loop: keep the desired state (event log) and the observed state (telemetry) current
 * in every instance; in the one holding the lease, every JANITOR_INTERVAL and on every new
 * inventory, declare silent hosts lost, state which VMs vanished (facts: the scheduler decides
 * about their jobs), ask hosts to reclaim leaks, and escalate reclaims that did not take.
 */
export async function startJanitor(d: JanitorDeps): Promise<Janitor> {
  const { config: c, log, clock } = d;
  const metrics = janitorMetrics(d.registry);
  const settings = leakSettings(c);
  const holder = c.JANITOR_INSTANCE_ID ?? `${hostname()}-${process.pid}`;
  const ttlMs = await leaseTtlOf(d.kv, { bucket: "janitor", configuredMs: c.JANITOR_LEASE_TTL * 1000, envName: "JANITOR_LEASE_TTL", log });
  const lease = new LeaderLease(d.kv, { role: "janitor", key: LEASE_KEY, holder, ttlMs, clock, log, onChange: (l) => metrics.leader.set(l ? 1 : 0) });
  metrics.leader.set(0);

  let running: Promise<void> | undefined;
  let again = false;
  const kick = () => {
    if (running) {
      again = true;
      return;
    }
    running = tick().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        kick();
      }
    });
  };

  // A new inventory is judged within 250 ms; inventories arriving together share one pass
  // (with 1,000 hosts reporting every 15 s, a pass every 250 ms instead of ~70 a second).
  let soon: NodeJS.Timeout | undefined;
  const kickSoon = () => {
    soon ??= setTimeout(() => {
      soon = undefined;
      kick();
    }, 250);
  };
  const telemetry = new TelemetryView(d.nats, { clock, log, onInventory: kickSoon });
  const desired = new DesiredView(d.store, { log, onFatal: d.onFatal, clock, ...(d.snapshots ? { snapshots: d.snapshots } : {}) });
  await telemetry.start();
  const replay = await desired.start();
  metrics.replay.set(replay.eventsPerSec);
  log.info(
    { events: replay.count, ms: Math.round(replay.ms), eventsPerSec: replay.eventsPerSec, fromSnapshotSeq: replay.fromSnapshotSeq },
    "event log replayed; following",
  );

  const escalated = new Set<string>();
  let lastForget = clock();

  async function tick(): Promise<void> {
    const end = metrics.tick.startTimer();
    try {
      if (!desired.caughtUp) return;
      const now = clock();
      const plan = findLeaks(desired.state, telemetry.hosts, now, settings);
      metrics.waiting.reset();
      for (const l of plan.waiting) metrics.waiting.inc({ cause: l.cause });
      if (!lease.isLeader()) return;
      await declareLost(now);
      await declareExpired(now);
      await act(plan, now);
      if (now - lastForget > 3_600_000) {
        lastForget = now;
        const n = forgetBefore(desired.state, now - c.JANITOR_FORGET_AFTER * 1000);
        if (n) log.info({ vms: n }, "forgot VMs that ended long ago");
      }
    } catch (e) {
      metrics.tickErrors.inc();
      log.warn({ err: e }, "janitor tick failed; next tick retries");
    } finally {
      end();
    }
  }

  async function append(event: JanitorEvent, o: { msgId: string; correlationId: string; causationId: string | null }, now: number) {
    const occurredAt = new Date(now).toISOString();
    const res = await d.store.append(event, { ...o, occurredAt });
    metrics.appends.inc({ type: event.type, outcome: res.duplicate ? "duplicate" : "stored" });
    // Fold our own append in at once, so the next tick (maybe before the follow delivers
    // it) does not decide it again. Idempotent when the follow delivers it.
    if (!res.duplicate) {
      desired.apply({
        ...event,
        id: res.id,
        version: 1,
        occurredAt,
        correlationId: o.correlationId,
        causationId: o.causationId,
        subject: res.subject,
        seq: res.seq,
      } as Stored<DomainEvent>);
    }
    return res;
  }

  async function declareLost(now: number): Promise<void> {
    for (const lost of findLostHosts(
      livenessOf(desired.state, telemetry.hosts, desired.seen),
      now,
      c.JANITOR_HOST_LOST_AFTER * 1000,
      telemetry.watchingSince,
    )) {
      if (!lease.isLeader()) return;
      const res = await append(lost.event, lost, now);
      const hl = log.child({ hostId: lost.event.data.hostId });
      if (!res.duplicate) metrics.hostsLost.inc();
      hl.warn({ lastSeenAt: lost.event.data.lastSeenAt, reason: lost.event.data.reason, duplicate: res.duplicate, seq: res.seq }, "host declared lost");
    }
  }

  /** Facts with a deadline: lost hosts whose lease ran out unfenced, placements nobody claimed. */
  async function declareExpired(now: number): Promise<void> {
    for (const x of findExpiredLeases(desired.state, desired.seen, now, c.JANITOR_FENCE_WAIT * 1000)) {
      if (!lease.isLeader()) return;
      const res = await append(x.event, x, now);
      if (!res.duplicate) metrics.leasesExpired.inc();
      log
        .child({ hostId: x.event.data.hostId })
        .warn({ lostSeq: x.event.data.lostSeq, reason: x.event.data.reason, duplicate: res.duplicate }, "lost host's lease expired without a fence");
    }
    for (const x of findExpiredPlacements(desired.state, now, c.JANITOR_PLACEMENT_TIMEOUT * 1000)) {
      if (!lease.isLeader()) return;
      const res = await append(x.event, x, now);
      if (!res.duplicate) metrics.placementsExpired.inc();
      log
        .child({ hostId: x.event.data.hostId, vmId: x.event.data.vmId, jobId: x.event.data.jobId })
        .warn({ reason: x.event.data.reason, duplicate: res.duplicate }, "placement expired: no host claimed it");
    }
  }

  async function act(plan: Plan, now: number): Promise<void> {
    for (const a of appendsOf(plan)) {
      if (!lease.isLeader()) return;
      const res = await append(a.event, a, now);
      if (a.kind === "vanished") {
        if (!res.duplicate) metrics.vmsVanished.inc();
        log
          .child({ hostId: a.fact.hostId, vmId: a.fact.vmId, jobId: a.event.data.jobId })
          .warn({ reason: a.event.data.reason, duplicate: res.duplicate, seq: res.seq }, "VM vanished from its host");
        continue;
      }
      const r = a.decision;
      if (!res.duplicate) {
        metrics.reclaimsRequested.inc({ cause: r.leaks[0]!.cause });
        for (const x of r.resources) metrics.resourcesRequested.inc({ kind: x.kind });
      }
      log
        .child({ hostId: r.hostId, vmId: r.resources[0]?.vmId })
        .info(
          { reclaimId: r.reclaimId, reason: r.reason, resources: r.resources.map((x) => `${x.kind}:${x.name}`), duplicate: res.duplicate },
          "reclaim requested",
        );
    }
    for (const s of plan.stuck) {
      if (escalated.has(s.key)) continue;
      escalated.add(s.key);
      metrics.reclaimStuck.inc({ why: s.why, kind: s.resource.kind });
      log
        .child({ hostId: s.hostId, vmId: s.resource.vmId })
        .error({ reclaimId: s.reclaimId, resource: `${s.resource.kind}:${s.resource.name}`, why: s.why, detail: s.detail }, "reclaim did not take");
    }
  }

  await lease.tick();
  const leaseTimer = setInterval(() => void lease.tick(), Math.max(250, Math.floor(ttlMs / 3)));
  const tickTimer = setInterval(kick, c.JANITOR_INTERVAL * 1000);
  kick();

  return {
    isLeader: () => lease.isLeader(),
    caughtUp: () => desired.caughtUp,
    stop: async () => {
      clearInterval(leaseTimer);
      clearInterval(tickTimer);
      clearTimeout(soon);
      await running;
      await lease.release();
      await telemetry.stop();
      await desired.stop();
    },
  };
}
