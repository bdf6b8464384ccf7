import { subjects, type DecodeError } from "@oneshot/proto";
import type { KV } from "@nats-io/kv";
import { LeaderLease, type EventStore, type Logger, type SnapshotStore } from "@oneshot/runtime";
import type { Policy } from "../core/follow-ups.js";
import type { SchedulerState } from "../core/state.js";
import { place } from "../core/place.js";
import { appendDecisions, type AppendReport } from "./append-decisions.js";
import type { SchedulerMetrics } from "./metrics.js";
import { Projection } from "./projection.js";
import { loadSnapshot, schedulerSnapshotVersion, SnapshotWriter, type SnapshotPolicy } from "./snapshots.js";

export interface SchedulerDeps {
  store: EventStore;
  log: Logger;
  metrics: SchedulerMetrics;
  policy: Policy;
  clock: () => Date;
  newId: () => string;
  /** The log follow broke: the process should stop (and be restarted) rather than decide blind. */
  onFatal: (e: unknown) => void;
  /** Start from the newest readable snapshot and write new ones; without it, every start replays the whole log. */
  snapshots?: { store: SnapshotStore; policy: SnapshotPolicy };
  /**
   * Decide only while holding the lease (KV bucket `scheduler`, key `leader`); without it this
   * instance always decides (a single scheduler, as in tests). See docs/scheduler-leadership.md.
   */
  lease?: { kv: KV; holder: string; ttlMs: number };
}

export interface RunningScheduler {
  caughtUp: () => boolean;
  /** True while this instance decides (always, without a lease). */
  leader: () => boolean;
  /** The projection as it stands (tests and benches compare it; never change it). */
  state: () => SchedulerState;
  /** Where the start began: the snapshot's sequence, or undefined for a full replay. */
  startedFromSeq: number | undefined;
  stop: () => Promise<void>;
}

/**
 * Replay the whole log, follow it, and decide whenever it moved: `place()` on the current
 * state, append the decisions, wait until they are read back, decide again. Nothing is kept
 * but the projection of the log, so a crash at any point loses nothing: on restart the replay
 * shows which decisions were stored, and every job without one is still pending.
 */
export async function startScheduler(d: SchedulerDeps): Promise<RunningScheduler> {
  const { store, log, metrics } = d;
  const projection = new Projection();
  const onDecodeError = (e: DecodeError) => {
    log.error({ err: e, subject: e.subject, seq: e.seq }, "undecodable event skipped");
    if (e.seq !== undefined) projection.advance(e.seq);
  };
  const until = await store.lastStreamSeq();
  const version = d.snapshots ? schedulerSnapshotVersion(await store.streamCreated()) : undefined;
  const snap = d.snapshots && version && until > 0 ? await loadSnapshot(d.snapshots.store, version, log) : undefined;
  // A snapshot from a log that was since cut short (a new stream) is not this log's state.
  const from = snap && snap.seq <= until ? snap : undefined;
  if (from) {
    projection.state = from.state;
    projection.advance(from.seq);
  }
  const writer =
    d.snapshots && version
      ? new SnapshotWriter<SchedulerState>({
          store: d.snapshots.store,
          version,
          policy: d.snapshots.policy,
          clock: () => d.clock().getTime(),
          log,
          ...(from ? { from: from.head } : {}),
        })
      : undefined;
  const replayApply = writer
    ? (e: Parameters<Projection["apply"]>[0]) => {
        projection.apply(e);
        writer.see(e);
      }
    : (e: Parameters<Projection["apply"]>[0]) => projection.apply(e);
  const report =
    until > (from?.seq ?? 0)
      ? await store.replay(subjects.allEvents, replayApply, { startSeq: (from?.seq ?? 0) + 1, untilSeq: until, onDecodeError })
      : { count: 0, ms: 0, eventsPerSec: 0, lastSeq: 0 };
  projection.advance(until);
  metrics.replayEventsPerSec.set(report.eventsPerSec);
  log.info(
    {
      events: report.count,
      ms: Math.round(report.ms),
      eventsPerSec: report.eventsPerSec,
      lastSeq: until,
      fromSnapshotSeq: from?.seq ?? null,
      hosts: projection.state.hosts.size,
      pending: projection.state.pending.size,
      live: projection.state.allocations.size,
    },
    "event log replayed",
  );
  // A long replay is worth keeping at once: the next start should not do it again.
  if (writer?.dueByCount(until)) void writer.write(projection.state, until);
  const apply = writer
    ? (e: Parameters<Projection["apply"]>[0]) => {
        projection.apply(e);
        writer.see(e);
        writer.maybeWrite(projection.state, projection.readSeq);
      }
    : (e: Parameters<Projection["apply"]>[0]) => projection.apply(e);

  let alive = true;
  let stopped = false;
  const stopFollow = await store.follow(subjects.allEvents, apply, {
    startSeq: until + 1,
    onDecodeError,
    onError: (e) => {
      alive = false;
      d.onFatal(e);
    },
  });

  // One decider at a time. Two schedulers deciding side by side were kept apart only by the
  // expected-subject-sequence check on each host's subject, which a clustered JetStream does not
  // serialise (nats-server before 2.9.21, and again across a stream-leader change): both of two
  // concurrent placements on one host were stored and the host was overbooked (the chaos suite).
  let becameLeader: (() => void) | undefined;
  let mustCatchUp = true;
  const lease = d.lease
    ? new LeaderLease(d.lease.kv, {
        role: "scheduler",
        key: "leader",
        holder: d.lease.holder,
        ttlMs: d.lease.ttlMs,
        clock: () => d.clock().getTime(),
        log,
        onChange: (leader) => {
          metrics.leader.set(leader ? 1 : 0);
          mustCatchUp = true;
          if (leader) becameLeader?.();
        },
      })
    : undefined;
  const mayAct = () => !lease || lease.isLeader();
  metrics.leader.set(lease ? 0 : 1);
  let leaseTimer: NodeJS.Timeout | undefined;
  let leaseTick: Promise<void> = Promise.resolve();
  if (lease) {
    const renew = () => {
      leaseTick = lease.tick();
    };
    renew();
    await leaseTick;
    leaseTimer = setInterval(renew, Math.max(250, Math.floor(d.lease!.ttlMs / 3)));
  }

  const tickMs = Math.min(30_000, Math.max(1_000, Math.floor(d.policy.idleDeadlineMs / 10)));
  const loop = (async () => {
    let decidedAt = -1;
    let backoffMs = 0;
    while (!stopped) {
      // Time alone makes decisions too (the idle deadline): wake up now and then even when the log is quiet.
      await wakeOrTick(projection.changedSince(decidedAt), tickMs, new Promise<void>((r) => (becameLeader = r)));
      if (stopped) break;
      metrics.logSeq.set(projection.readSeq);
      if (!mayAct()) {
        // A standby: follows the log, decides nothing, wakes again at its next change.
        decidedAt = projection.readSeq;
        continue;
      }
      if (mustCatchUp) {
        // A new leader first reads everything its predecessor stored, up to the log's end.
        try {
          await projection.reached(await store.lastStreamSeq());
          mustCatchUp = false;
        } catch (e) {
          log.warn({ err: e }, "cannot read the log's last sequence before deciding; trying again");
          await sleep(250);
          continue;
        }
        if (stopped) break;
        if (!mayAct()) continue;
      }
      decidedAt = projection.readSeq;
      const started = performance.now();
      const decisions = place(projection.state, d.clock().toISOString(), d.policy);
      metrics.placeSeconds.observe((performance.now() - started) / 1000);
      metrics.pending.set(projection.state.pending.size);
      if (decisions.length === 0) continue;
      const r = await appendDecisions(store, decisions, { newId: d.newId, log, mayAct });
      record(r, metrics, log);
      if (r.leaseLost) log.warn({ decided: decisions.length, stored: r.stored.length }, "the lease lapsed during a round: the rest of it was not appended");
      if (r.error !== undefined) {
        // NATS is away or refused: pause, then decide again on whatever the log says by then.
        backoffMs = Math.min(Math.max(250, backoffMs * 2), 10_000);
        await sleep(backoffMs);
        decidedAt = -1;
        continue;
      }
      backoffMs = 0;
      try {
        // After a conflict, read at least as far as the write that beat us; always read our own.
        if (r.conflicts > 0) await projection.reached(await store.lastStreamSeq());
        await projection.reached(r.maxSeq);
      } catch (e) {
        log.warn({ err: e }, "cannot read the log's last sequence; deciding again");
        decidedAt = -1;
      }
      metrics.decisionSeconds.observe((performance.now() - started) / 1000);
    }
  })();

  return {
    caughtUp: () => alive && !stopped,
    leader: mayAct,
    state: () => projection.state,
    startedFromSeq: from?.seq,
    stop: async () => {
      stopped = true;
      clearInterval(leaseTimer);
      projection.interrupt();
      becameLeader?.();
      await loop;
      await leaseTick;
      // Handed over at once: a standby need not wait for the TTL.
      await lease?.release();
      await stopFollow();
      await writer?.idle();
    },
  };
}

function record(r: AppendReport, metrics: SchedulerMetrics, log: Logger): void {
  for (const dec of r.stored) {
    const e = dec.event;
    metrics.decisions.inc({ type: e.type });
    if (e.type === "JobScheduled") {
      metrics.placements.inc();
      log.info({ jobId: e.data.jobId, hostId: e.data.hostId, vmId: e.data.vmId, attempt: e.data.attempt }, "job placed");
    } else {
      log.info(
        {
          ...("jobId" in e.data ? { jobId: e.data.jobId } : { hostId: e.data.hostId, vmId: e.data.vmId }),
          type: e.type,
          reason: "reason" in e.data ? e.data.reason : undefined,
        },
        "decision stored",
      );
    }
  }
  if (r.conflicts) metrics.conflicts.inc(r.conflicts);
  if (r.duplicates) metrics.duplicates.inc(r.duplicates);
  if (r.error !== undefined) metrics.appendErrors.inc();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function wakeOrTick(change: Promise<void>, ms: number, leadership: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([change, leadership, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}
