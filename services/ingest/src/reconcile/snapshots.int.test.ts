import type { KV } from "@nats-io/kv";
import { subjects, type DomainEvent, type Stored } from "@oneshot/proto";
import { SNAPSHOT_BUCKET, SnapshotStore, decodeState, ensureKv, type EventStore, type Nats } from "@oneshot/runtime";
import { connectTest, missing, startNats, waitFor, type TestNats } from "@oneshot/testing";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { capturingLogger } from "../../test/harness.js";
import { startReconciler, type Reconciler } from "./loop.js";
import { reconcileMetrics } from "./metrics.js";
import { evolve, initialState, type ReconcileState } from "./projection.js";
import { RECONCILE_SNAPSHOT_NAME, reconcileSnapshotVersion } from "./snapshots.js";
import { ghSource, queued } from "./test-events.js";

// The reconciler in this process against a real nats-server and its snapshot bucket: it writes
// snapshots, a start reads the newest and only the tail, and a damaged or foreign one is refused.

const skip = missing("nats");

describe.skipIf(skip)("reconciler snapshots (real nats-server)", () => {
  let server: TestNats;
  let nats: Nats;
  let store: EventStore;
  let close: () => Promise<void>;
  let kv: KV;
  let snaps: SnapshotStore;
  const running: Reconciler[] = [];
  let lines: string[] = [];
  const start = async (everyEvents: number) => {
    const log = capturingLogger();
    lines = log.lines;
    const r = await startReconciler({
      store,
      log: log.log,
      metrics: reconcileMetrics(new Registry()),
      apis: {},
      isLeader: () => false,
      clock: Date.now,
      onFatal: (e) => {
        throw e;
      },
      options: {
        intervalMs: 3600_000,
        staleAfterMs: 3600_000,
        maxChecksPerTick: 10,
        deliveriesLookbackMs: 3600_000,
        deliveriesMaxPages: 1,
        idleDelayMs: 3600_000,
      },
      snapshots: { store: snaps, policy: { everyEvents, everyMs: 0 } },
    });
    running.push(r);
    return r;
  };
  const startedFrom = () => (JSON.parse(lines.find((l) => l.includes("reconcile: event log replayed"))!) as { fromSnapshotSeq: number | null }).fromSnapshotSeq;
  const append = async (events: DomainEvent[]) => {
    for (const e of events) await store.append(e, { correlationId: "snap-test" });
  };
  const fullFold = async (upTo: number) => {
    const out: Stored<DomainEvent>[] = [];
    await store.replay(subjects.allEvents, (e) => void out.push(e));
    const s = out.filter((e) => e.seq <= upTo).reduce((st, e) => evolve(st, e), initialState());
    s.readSeq = upTo;
    return s;
  };
  const version = async () => reconcileSnapshotVersion(await store.streamCreated());
  const ordered = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (_k, v: unknown) => (v instanceof Map ? { map: [...v] } : v)));

  beforeAll(async () => {
    server = await startNats();
    ({ nats, store, close } = await connectTest(server.url));
    kv = await ensureKv(nats, SNAPSHOT_BUCKET);
    snaps = new SnapshotStore(kv, RECONCILE_SNAPSHOT_NAME);
    await append(Array.from({ length: 8 }, (_, i) => queued(`gh-${i}`, ghSource(String(i)))));
  });
  afterEach(async () => {
    for (const r of running.splice(0)) await r.stop();
  });
  afterAll(async () => {
    await close?.();
    await server?.dispose();
  });

  it("writes a snapshot, starts from it, reads only the tail, and holds the full replay's state", async () => {
    await start(5);
    expect(startedFrom()).toBeNull();
    const first = await store.lastStreamSeq();
    await waitFor("a snapshot at the log's end", async () => {
      const r = await snaps.read(await version());
      return (r.ok && r.head.seq >= first) || undefined;
    });
    for (const r of running.splice(0)) await r.stop();
    await append([
      { type: "JobStarted", data: { jobId: "gh-1", runnerName: "oneshot-h0-vm1", vmId: "vm1", hostId: "h0", reportedBy: "webhook" } },
      ...Array.from({ length: 6 }, (_, i) => queued(`gh-${10 + i}`, ghSource(String(10 + i)))),
    ]);
    const end = await store.lastStreamSeq();
    await start(5);
    expect(startedFrom()).toBe(first);
    expect(lines.find((l) => l.includes("reconcile: event log replayed"))).toContain(`"events":${end - first}`);
    await waitFor("a snapshot at the new end", async () => {
      const r = await snaps.read(await version());
      return (r.ok && r.head.seq >= end) || undefined;
    });
    const r = await snaps.read(await version());
    if (!r.ok) throw new Error(r.detail);
    expect(ordered(decodeState<ReconcileState>(r.bytes))).toEqual(ordered(await fullFold(r.head.seq)));
  });

  it("refuses a damaged or foreign snapshot and replays the whole log", async () => {
    const good = await snaps.read(await version());
    if (!good.ok) throw new Error(good.detail);
    const bytes = Buffer.from(good.bytes);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    await kv.put(`${RECONCILE_SNAPSHOT_NAME}.${good.head.seq}.0`, bytes);
    await start(1_000_000);
    expect(startedFrom()).toBeNull();
    expect(lines.join("")).toMatch(/"reason":"corrupt"/);
    for (const r of running.splice(0)) await r.stop();
    await snaps.write(good.head.seq, { ...(await version()), code: "another-build" }, good.bytes, new Date().toISOString());
    await start(1_000_000);
    expect(startedFrom()).toBeNull();
    expect(lines.join("")).toMatch(/"reason":"foreign"/);
  });
});
