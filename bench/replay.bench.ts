// `npm run bench -- replay [--events 1000000]` (after `npm run build`; under the heavy lock).
//
// A synthetic but valid log (bench/synthetic-log.ts: 8 events per job of ours, one JobIgnored
// per hosted job beside it) written to a real nats-server, then, in the same process:
//   bare-ordered-read  the baseline: one ordered consumer over evt.> that only counts messages
//   scheduler-full     startScheduler() until it is ready (replay + follow started), no snapshot
//   scheduler-snapshot the same after a snapshot was written near the end of the log
//                      (only when the build has snapshots)
// One JSON line per case, each with its ratio to the baseline's time.
import { parseArgs } from "node:util";
import { DeliverPolicy } from "@nats-io/jetstream";
import { pino } from "pino";
import { Registry } from "prom-client";
import { encode, subjectOf } from "@oneshot/proto";
import { newEventId } from "@oneshot/runtime";
import { connectTest, startNats } from "@oneshot/testing";
import { schedulerMetrics } from "../services/scheduler/src/loop/metrics.js";
import { startScheduler, type SchedulerDeps } from "../services/scheduler/src/loop/scheduler.js";
import { syntheticLog } from "./synthetic-log.js";

const { values } = parseArgs({ options: { events: { type: "string", default: "1000000" }, cases: { type: "string", default: "bare,full,snapshot" } } });
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

async function bareOrderedRead(): Promise<{ count: number; ms: number }> {
  const t = performance.now();
  const oc = await nats.js.consumers.get("EVENTS", { filter_subjects: "evt.>", deliver_policy: DeliverPolicy.All });
  const it = await oc.consume({ max_messages: 1000 });
  let count = 0;
  for await (const m of it) {
    count++;
    if (m.info.pending === 0) break;
  }
  await it.close();
  return { count, ms: performance.now() - t };
}

const quiet = pino({ level: "silent" });
const deps = (registry: Registry, log = quiet): SchedulerDeps => ({
  store, log, metrics: schedulerMetrics(registry), policy: { maxAttempts: 3, idleDeadlineMs: 600_000, vanishedPolicy: "requeue" },
  clock: () => new Date("2026-01-01T00:00:00.000Z"), newId: newEventId, onFatal: (e) => { throw e; },
});

async function schedulerReady(label: string, extra: Partial<SchedulerDeps> = {}): Promise<{ ms: number }> {
  let replayed: Record<string, unknown> = {};
  const log = pino({ level: "info" }, { write: (s: string) => { const o = JSON.parse(s) as Record<string, unknown>; if (o.msg === "event log replayed") replayed = o; } });
  const t = performance.now();
  const s = await startScheduler({ ...deps(new Registry(), log), ...extra });
  const ms = performance.now() - t;
  await s.stop();
  line({ case: label, readyMs: Math.round(ms), ...Object.fromEntries(Object.entries(replayed).filter(([k]) => ["events", "eventsPerSec", "hosts", "pending", "live", "fromSnapshotSeq"].includes(k))) });
  return { ms };
}

const base = cases.has("bare") || true ? await bareOrderedRead() : undefined;
line({ case: "bare-ordered-read", events: base!.count, ms: Math.round(base!.ms), eventsPerSec: Math.round((base!.count * 1000) / base!.ms) });
if (cases.has("full")) {
  const r = await schedulerReady("scheduler-full");
  line({ case: "scheduler-full-vs-bare", ratio: +(r.ms / base!.ms).toFixed(3) });
}

await close();
await server.dispose();
