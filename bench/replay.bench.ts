// `npm run bench -- replay [--events 1000000]` (after `npm run build`; under the heavy lock).
//
// A synthetic but valid log (bench/synthetic-log.ts: 8 events per job of ours, one JobIgnored
// per hosted job beside it) written to a real nats-server, then, in the same process:
//   bare-ordered-read  the baseline: one ordered consumer over evt.> that only counts messages
//   scheduler-full     startScheduler() until it is ready (replay + follow started), no snapshot
//   scheduler-snapshot the same from a snapshot taken `--tail` events (default 10,000: half of
//                      SCHEDULER_SNAPSHOT_EVERY's default) before the end of the log
//   breakdown          the same messages decoded, then folded, in memory: where the time goes
// One JSON line per case, each with its ratio to the baseline's time. `--profile DIR` writes a
// CPU profile of each scheduler case alone (not the log's writing) to DIR/<case>.cpuprofile.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { parseArgs } from "node:util";
import { DeliverPolicy } from "@nats-io/jetstream";
import { pino } from "pino";
import { Registry } from "prom-client";
import { encode, subjectOf } from "@oneshot/proto";
import { SNAPSHOT_BUCKET, SnapshotStore, decodeMsg, encodeState, ensureKv, newEventId } from "@oneshot/runtime";
import { evolve, initialState } from "@oneshot/scheduler";
import { connectTest, startNats } from "@oneshot/testing";
import { schedulerMetrics } from "../services/scheduler/src/loop/metrics.js";
import { startScheduler, type SchedulerDeps } from "../services/scheduler/src/loop/scheduler.js";
import { schedulerSnapshotVersion } from "../services/scheduler/src/loop/snapshots.js";
import { syntheticLog } from "./synthetic-log.js";

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "1000000" },
    tail: { type: "string", default: "10000" },
    cases: { type: "string", default: "breakdown,full,snapshot" },
    profile: { type: "string" },
  },
});
const total = Number(values.events);
const cases = new Set(values.cases.split(","));
const line = (o: Record<string, unknown>) => console.log(JSON.stringify(o));

const server = await startNats();
const { nats, store, close } = await connectTest(server.url, "bench");

// ---- write the log: pre-encoded, 512 publishes in flight ----
{
  const t = performance.now();
  const meta = { occurredAt: "2026-01-01T00:00:00.000Z", correlationId: "bench", causationId: null };
  let inFlight: Promise<unknown>[] = [];
  let n = 0;
  for (const e of syntheticLog(total)) {
    inFlight.push(nats.js.publish(subjectOf(e), encode(e, { ...meta, id: newEventId() })));
    if (inFlight.length >= 512) {
      await Promise.all(inFlight);
      inFlight = [];
    }
    n++;
  }
  await Promise.all(inFlight);
  const info = await nats.jsm.streams.info("EVENTS");
  line({ case: "write-log", events: n, ms: Math.round(performance.now() - t), streamBytes: info.state.bytes, lastSeq: info.state.last_seq });
}

const kept: { data: Uint8Array; subject: string; seq: number }[] = [];
async function bareOrderedRead(keep = false): Promise<{ count: number; ms: number }> {
  const t = performance.now();
  const oc = await nats.js.consumers.get("EVENTS", { filter_subjects: "evt.>", deliver_policy: DeliverPolicy.All });
  const it = await oc.consume({ max_messages: 1000 });
  let count = 0;
  for await (const m of it) {
    count++;
    if (keep) kept.push({ data: m.data, subject: m.subject, seq: m.seq });
    if (m.info.pending === 0) break;
  }
  await it.close();
  return { count, ms: performance.now() - t };
}

/** Where a replay's time goes, without NATS: decoding (msgpack + schemas + subject table), then the fold. */
function breakdown(): void {
  let t = performance.now();
  const events = kept.map((m) => decodeMsg(m));
  const decodeMs = performance.now() - t;
  t = performance.now();
  let s = initialState();
  for (const e of events) s = evolve(s, e);
  const evolveMs = performance.now() - t;
  line({
    case: "breakdown",
    events: events.length,
    decodeMs: Math.round(decodeMs),
    decodeUsPerEvent: +((decodeMs * 1000) / events.length).toFixed(2),
    evolveMs: Math.round(evolveMs),
    evolveUsPerEvent: +((evolveMs * 1000) / events.length).toFixed(2),
  });
}

const quiet = pino({ level: "silent" });
const deps = (registry: Registry, log = quiet): SchedulerDeps => ({
  store,
  log,
  metrics: schedulerMetrics(registry),
  policy: { maxAttempts: 3, idleDeadlineMs: 600_000, vanishedPolicy: "requeue" },
  clock: () => new Date("2026-01-01T00:00:00.000Z"),
  newId: newEventId,
  onFatal: (e) => {
    throw e;
  },
});

async function schedulerReady(label: string, extra: Partial<SchedulerDeps> = {}): Promise<{ ms: number }> {
  let replayed: Record<string, unknown> = {};
  const log = pino(
    { level: "info" },
    {
      write: (s: string) => {
        const o = JSON.parse(s) as Record<string, unknown>;
        if (o.msg === "event log replayed") replayed = o;
      },
    },
  );
  const profiler = values.profile ? new Session() : undefined;
  if (profiler) {
    profiler.connect();
    await profiler.post("Profiler.enable");
    await profiler.post("Profiler.start");
  }
  const t = performance.now();
  const s = await startScheduler({ ...deps(new Registry(), log), ...extra });
  const ms = performance.now() - t;
  if (profiler) {
    const { profile } = await profiler.post("Profiler.stop");
    writeFileSync(`${values.profile}/${label}.cpuprofile`, JSON.stringify(profile));
    profiler.disconnect();
  }
  await s.stop();
  line({
    case: label,
    readyMs: Math.round(ms),
    ...Object.fromEntries(Object.entries(replayed).filter(([k]) => ["events", "eventsPerSec", "hosts", "pending", "live", "fromSnapshotSeq"].includes(k))),
  });
  return { ms };
}

const base = await bareOrderedRead(cases.has("breakdown"));
line({ case: "bare-ordered-read", events: base.count, ms: Math.round(base.ms), eventsPerSec: Math.round((base.count * 1000) / base.ms) });
if (cases.has("breakdown")) {
  breakdown();
  kept.length = 0;
}
if (cases.has("full")) {
  const r = await schedulerReady("scheduler-full");
  line({ case: "scheduler-full-vs-bare", ratio: +(r.ms / base.ms).toFixed(3) });
}

if (cases.has("snapshot")) {
  const at = (await store.lastStreamSeq()) - Number(values.tail);
  let state = initialState();
  await store.replay("evt.>", (e) => void (state = evolve(state, e)), { untilSeq: at });
  const snaps = new SnapshotStore(await ensureKv(nats, SNAPSHOT_BUCKET), "scheduler");
  let t = performance.now();
  const bytes = encodeState(state);
  const encodeMs = performance.now() - t;
  t = performance.now();
  await snaps.write(at, schedulerSnapshotVersion(await store.streamCreated()), bytes, new Date().toISOString());
  line({ case: "snapshot-write", seq: at, bytes: bytes.length, encodeMs: Math.round(encodeMs), storeMs: Math.round(performance.now() - t) });
  const r = await schedulerReady("scheduler-snapshot", { snapshots: { store: snaps, policy: { everyEvents: 20_000, everyMs: 300_000 } } });
  line({ case: "scheduler-snapshot-vs-bare", ratio: +(r.ms / base.ms).toFixed(3) });
}

await close();
await server.dispose();
