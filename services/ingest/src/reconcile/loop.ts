import { subjects, type DecodeError, type DomainEvent, type Provider } from "@oneshot/proto";
import { ConcurrencyError, SnapshotWriter, loadSnapshot, type EventStore, type Logger, type SnapshotPolicy, type SnapshotStore } from "@oneshot/runtime";
import { deliveriesToRedeliver, nextCheckpoint, redeliveredEvent } from "./deliveries.js";
import { decideJobAnswer } from "./job-answer.js";
import type { ReconcileMetrics } from "./metrics.js";
import { evolve, initialState, prune, type IdleView, type JobView, type ReconcileState } from "./projection.js";
import { isReconcileState, reconcileSnapshotVersion } from "./snapshots.js";
import { staleJobs } from "./stale-jobs.js";
import type { DeliveriesApi, ProviderJob, ReconcileApi } from "./types.js";
import { decideRetire, idleTookJob, planIdle, ranOn } from "./vm-idle.js";

export interface ReconcilerOptions {
  intervalMs: number;
  staleAfterMs: number;
  maxChecksPerTick: number;
  /** First walk back through the deliveries (GitHub keeps 3 days), and its page cap per tick. */
  deliveriesLookbackMs: number;
  deliveriesMaxPages: number;
  /** A new VmIdle is handled this soon (ms), not at the next tick. */
  idleDelayMs: number;
}

export interface ReconcilerDeps {
  store: EventStore;
  log: Logger;
  metrics: ReconcileMetrics;
  /** The providers ingest can ask (an App / a token configured). */
  apis: Partial<Record<"github" | "gitlab", ReconcileApi>>;
  deliveries?: DeliveriesApi;
  /** True while this replica holds the lease (always true with a single replica). */
  isLeader: () => boolean;
  clock: () => number;
  options: ReconcilerOptions;
  /** The log follow broke: stop (and be restarted) rather than decide blind. */
  onFatal: (e: unknown) => void;
  /** Start from the newest readable snapshot (KV `snapshots`, key `reconcile.head`) and write new ones; without it, every start replays the whole log. */
  snapshots?: { store: SnapshotStore; policy: SnapshotPolicy };
}

export interface Reconciler {
  /** One pass now (tests, and after taking the lease). Resolves when it is done. */
  tick(): Promise<void>;
  /** Resolves once the log is read up to `seq`. */
  reached(seq: number): Promise<void>;
  stop(): Promise<void>;
}

type Append = { event: DomainEvent; msgId: string; correlationId: string; expectedLastSubjectSeq?: number; causationId?: string };

/**
 * Replays the EVENTS stream into the projection, follows it, and every RECONCILE_INTERVAL (and
 * soon after each VmIdle) asks the providers what the log cannot know, appending what they
 * say. Only the lease holder asks and appends; every replica keeps the projection warm. One
 * log line per decision, with its reason.
 */
export async function startReconciler(d: ReconcilerDeps): Promise<Reconciler> {
  const { store, log, metrics, options: o } = d;
  const state = initialState();
  const lastChecked = new Map<string, number>();
  const waiters: { seq: number; resolve: () => void }[] = [];
  const read = (e: { seq: number }) => {
    for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i]!.seq <= state.readSeq) waiters.splice(i, 1)[0]!.resolve();
    void e;
  };
  const onDecodeError = (e: DecodeError) => log.error({ err: e, subject: e.subject, seq: e.seq }, "undecodable event skipped");
  const until = await store.lastStreamSeq();
  const snaps = d.snapshots;
  const version = snaps ? reconcileSnapshotVersion(await store.streamCreated()) : undefined;
  const snap = snaps && version && until > 0 ? await loadSnapshot(snaps.store, version, log, isReconcileState) : undefined;
  // A snapshot past the log's end is of another log (the stream was cut short).
  const from = snap && snap.seq <= until ? snap : undefined;
  if (from) Object.assign(state, from.state);
  const writer =
    snaps && version
      ? new SnapshotWriter<ReconcileState>({ store: snaps.store, version, policy: snaps.policy, clock: d.clock, log, ...(from ? { from: from.head } : {}) })
      : undefined;
  const start = (from?.seq ?? 0) + 1;
  const report =
    until >= start
      ? await store.replay(
          subjects.allEvents,
          (e) => {
            evolve(state, e);
            writer?.see(e);
          },
          { startSeq: start, untilSeq: until, onDecodeError },
        )
      : { count: 0, ms: 0 };
  state.readSeq = Math.max(state.readSeq, until);
  log.info(
    { events: report.count, ms: Math.round(report.ms), fromSnapshotSeq: from?.seq ?? null, jobs: state.jobs.size, idles: state.idles.size },
    "reconcile: event log replayed",
  );
  // A long replay is worth keeping at once. The state also holds the redelivery marks this loop
  // set before their DeliveryRedelivered was read back: what this process has, and what the
  // next start needs (a fold of the log would have the same marks a moment later).
  if (writer?.dueByCount(until)) void writer.write(state, until);

  let soon: NodeJS.Timeout | undefined;
  const kickSoon = () =>
    (soon ??= setTimeout(() => {
      soon = undefined;
      void kick();
    }, o.idleDelayMs));
  const stopFollow = await store.follow(
    subjects.allEvents,
    (e) => {
      evolve(state, e);
      writer?.see(e);
      writer?.maybeWrite(state, e.seq);
      read(e);
      if (e.type === "VmIdle") kickSoon();
    },
    { startSeq: until + 1, onDecodeError, onError: d.onFatal },
  );

  let checkpoint = d.clock() - o.deliveriesLookbackMs;
  let lastPass = d.clock();
  const hasApi = (p: Provider) => p !== "local" && d.apis[p as "github" | "gitlab"] !== undefined;

  const decided = (kind: string, fields: Record<string, unknown>, reason: string) => {
    metrics.decisions.inc({ kind });
    log.info({ kind, ...fields, reason }, "reconcile decision");
  };
  const failed = (fields: Record<string, unknown>, e: unknown) => {
    metrics.decisions.inc({ kind: "error" });
    log.warn(
      { ...fields, err: (e as Error).message, retryable: (e as { retryable?: boolean }).retryable === true },
      "reconcile call failed; next tick tries again",
    );
  };
  /** Appends one decision; a concurrent writer (10071) means the log moved: decide again next tick. */
  const append = async (a: Append, fields: Record<string, unknown>): Promise<boolean> => {
    try {
      const r = await store.append(a.event, {
        msgId: a.msgId,
        correlationId: a.correlationId,
        ...(a.causationId ? { causationId: a.causationId } : {}),
        ...(a.expectedLastSubjectSeq !== undefined ? { expectedLastSubjectSeq: a.expectedLastSubjectSeq } : {}),
        occurredAt: new Date(d.clock()).toISOString(),
      });
      if (r.duplicate) log.debug({ ...fields, msgId: a.msgId }, "reconcile: decision was stored already");
      return true;
    } catch (e) {
      if (e instanceof ConcurrencyError) {
        decided("conflict", fields, `${a.event.type}: the job's subject moved on; deciding again next tick`);
        return false;
      }
      throw e;
    }
  };

  const ask = async (j: JobView): Promise<ProviderJob> => {
    const api = d.apis[j.source!.provider as "github" | "gitlab"]!;
    lastChecked.set(j.jobId, d.clock());
    return api.job(j.source!);
  };

  /** Idles answered by an append not yet read back: not asked about again meanwhile. */
  const answered = new Set<string>();
  const handleIdle = async (idle: IdleView) => {
    const key = `${idle.hostId}/${idle.vmId}`;
    if (answered.has(key)) return;
    const fields = { hostId: idle.hostId, vmId: idle.vmId, runnerName: idle.runnerName, bootedForJobId: idle.bootedForJobId };
    const plan = planIdle(idle, state, hasApi);
    if (plan.kind === "stuck") return decided("stuck", fields, plan.reason);
    if (plan.kind === "retire-now") {
      const r = decideRetire(idle, { kind: "no-api", detail: plan.reason }, []);
      if (r.kind === "retired" && (await append({ ...r, causationId: idle.eventId }, fields))) {
        answered.add(key);
        decided("retired", fields, r.reason);
      }
      return;
    }
    const checked: string[] = [];
    for (const job of plan.candidates) {
      const answer = await ask(job);
      checked.push(job.jobId);
      if (ranOn(answer, idle.runnerName)) {
        const s = idleTookJob(job, answer, idle.runnerName);
        if (await append(s, { ...fields, jobId: job.jobId })) {
          answered.add(key);
          decided("started", { ...fields, jobId: job.jobId }, s.reason);
        }
        return;
      }
      // Whatever else it says is a fact about that job too (started elsewhere, ended).
      const other = decideJobAnswer(job, answer);
      if (other.kind !== "none" && (await append(other.append, { jobId: job.jobId }))) decided(other.kind, { jobId: job.jobId }, other.reason);
    }
    const api = d.apis[plan.provider]!;
    const outcome = await api.retireRunner({ source: plan.source, runnerName: idle.runnerName, bootedForJobId: idle.bootedForJobId });
    const r = decideRetire(idle, outcome, checked);
    if (r.kind === "busy") return decided("busy", fields, r.reason);
    if (await append({ ...r, causationId: idle.eventId }, fields)) {
      answered.add(key);
      decided("retired", fields, r.reason);
    }
  };

  const handleStale = async (job: JobView) => {
    const answer = await ask(job);
    const dec = decideJobAnswer(job, answer);
    if (dec.kind === "none") return decided("none", { jobId: job.jobId }, dec.reason);
    if (await append(dec.append, { jobId: job.jobId })) decided(dec.kind, { jobId: job.jobId }, dec.reason);
  };

  const handleDeliveries = async (api: DeliveriesApi) => {
    const now = d.clock();
    const walk = await api.list(checkpoint, o.deliveriesMaxPages);
    const todo = deliveriesToRedeliver(walk.rows, state.redelivered, now);
    for (const row of todo) {
      const fields = { deliveryId: row.id, guid: row.guid, event: row.event, action: row.action, statusCode: row.statusCode };
      try {
        // Asked first, recorded after: a crash between the two redelivers once more (ingest dedupes on the guid).
        await api.redeliver(row.id);
        const e = redeliveredEvent(row, new Date(d.clock()).toISOString());
        await append({ event: e, msgId: `redelivered:${row.id}`, correlationId: row.guid }, fields);
        state.redelivered.set(row.guid, d.clock());
        metrics.redeliveries.inc();
        decided("redelivered", fields, (e.data as { reason: string }).reason);
      } catch (err) {
        failed(fields, err);
      }
    }
    if (!walk.complete) {
      const oldest = walk.rows.at(-1)?.deliveredAt;
      log.warn(
        { pages: walk.pages, checkpoint: new Date(checkpoint).toISOString(), reachedBack: oldest },
        "reconcile: deliveries walk stopped at RECONCILE_DELIVERIES_MAX_PAGES before the checkpoint; older failures are not redelivered",
      );
    }
    checkpoint = nextCheckpoint(checkpoint, walk.rows);
  };

  const pass = async () => {
    const started = d.clock();
    const jobs: Promise<void>[] = [];
    for (const idle of [...state.idles.values()]) {
      jobs.push(handleIdle(idle).catch((e) => failed({ hostId: idle.hostId, vmId: idle.vmId }, e)));
    }
    await Promise.all(jobs);
    const stale = staleJobs(state, d.clock(), lastChecked, { staleAfterMs: o.staleAfterMs, intervalMs: o.intervalMs, maxPerTick: o.maxChecksPerTick, hasApi });
    await Promise.all(stale.map((j) => handleStale(j).catch((e) => failed({ jobId: j.jobId }, e))));
    if (d.deliveries) await handleDeliveries(d.deliveries).catch((e) => failed({ call: "deliveries" }, e));
    for (const id of lastChecked.keys()) {
      const s = state.jobs.get(id)?.state;
      if (s !== "queued" && s !== "started") lastChecked.delete(id);
    }
    for (const key of answered) if (!state.idles.has(key)) answered.delete(key);
    prune(state, d.clock());
    lastPass = started;
  };

  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  const kick = (): Promise<void> => {
    if (stopped || !d.isLeader()) return Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    running = pass().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        void kick();
      }
    });
    return running;
  };
  const timer = setInterval(() => void kick(), o.intervalMs);
  const lag = setInterval(() => metrics.lagSeconds.set(d.isLeader() ? (d.clock() - lastPass) / 1000 : 0), 1000);
  lag.unref();

  return {
    tick: async () => {
      if (running) await running;
      await kick();
    },
    reached: (seq) => (state.readSeq >= seq ? Promise.resolve() : new Promise((resolve) => waiters.push({ seq, resolve }))),
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      clearInterval(lag);
      if (soon) clearTimeout(soon);
      await running?.catch(() => undefined);
      await stopFollow();
      await writer?.idle();
    },
  };
}
