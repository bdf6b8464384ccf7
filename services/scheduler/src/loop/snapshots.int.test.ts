import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { vmIdFor, type DomainEvent } from "@oneshot/proto";
import { SNAPSHOT_BUCKET, SnapshotStore, createLogger, ensureKv, newEventId, type EventStore, type Nats } from "@oneshot/runtime";
import { connectTest, missing, startNats, waitFor, type TestNats } from "@oneshot/testing";
import { Registry } from "prom-client";
import type { KV } from "@nats-io/kv";
import { fold } from "../core/evolve.js";
import { initialState } from "../core/state.js";
import { jobEvent, queued, registered, started, vmBooted, vmDestroyed, vmExited } from "../testing/fixtures.js";
import { appendAll, readLog } from "../testing/fleet.js";
import { schedulerMetrics } from "./metrics.js";
import { startScheduler, type RunningScheduler } from "./scheduler.js";
import { schedulerSnapshotVersion } from "./snapshots.js";

// The scheduler in this process against a real nats-server and its snapshot bucket: a start
// reads the newest snapshot and only the tail after it, and ends with the state a full replay
// gives; a damaged or foreign snapshot is refused and the whole log replayed.

const skip = missing("nats");
const log = createLogger("snapshots-test", { level: process.env.TEST_LOG_LEVEL ?? "silent" });

/** Jobs that run to their end: a log with some shape (placements are the scheduler's). */
function lifecycle(i: number): DomainEvent[] {
  const jobId = `j${i}`;
  const r = { hostId: `h${i % 2}`, vmId: vmIdFor(jobId, 0), jobId };
  return [vmBooted(r), started(jobId, r), jobEvent("JobCompleted", jobId), vmExited(r), vmDestroyed(r)];
}

describe.skipIf(skip)("scheduler snapshots on a real nats-server", () => {
  let server: TestNats;
  let nats: Nats;
  let store: EventStore;
  let close: () => Promise<void>;
  let kv: KV;
  let snaps: SnapshotStore;
  const running: RunningScheduler[] = [];
  const start = async (everyEvents = 10) => {
    const s = await startScheduler({
      store,
      log,
      metrics: schedulerMetrics(new Registry()),
      policy: { maxAttempts: 3, idleDeadlineMs: 600_000, vanishedPolicy: "requeue" },
      clock: () => new Date(),
      newId: newEventId,
      onFatal: (e) => {
        throw e;
      },
      snapshots: { store: snaps, policy: { everyEvents, everyMs: 0 } },
    });
    running.push(s);
    return s;
  };
  const stopAll = async () => {
    for (const s of running.splice(0)) await s.stop();
  };
  /** The state a full replay gives of the log up to the last event `s` applied (it may stop before reading its own last appends). */
  const fullReplay = async (s: RunningScheduler) =>
    fold(
      initialState(),
      (await readLog(store)).filter((e) => e.seq <= s.state().lastSeq),
    );
  const headSeq = async () => {
    const r = await snaps.read(await version());
    return r.ok ? r.head.seq : 0;
  };
  const version = async () => schedulerSnapshotVersion(await store.streamCreated());
  const placedAll = (n: number) => async () => (await readLog(store)).filter((e) => e.type === "JobScheduled").length >= n || undefined;

  const reconnect = async () => {
    await close();
    const c = await connectTest(server.url);
    nats = c.nats;
    kv = await ensureKv(nats, SNAPSHOT_BUCKET);
    snaps = new SnapshotStore(kv, "scheduler");
    return c;
  };
  beforeEach(async () => {
    server = await startNats();
    ({ nats, store, close } = await connectTest(server.url));
    kv = await ensureKv(nats, SNAPSHOT_BUCKET);
    snaps = new SnapshotStore(kv, "scheduler");
    await appendAll(store, [registered("h0"), registered("h1")], 1);
    await appendAll(
      store,
      Array.from({ length: 6 }, (_, i) => queued(`j${i}`)),
      1,
    );
  });
  afterEach(async () => {
    await stopAll();
    await close?.();
    await server?.dispose();
  });

  it("starts from the newest snapshot, reads only the tail, and ends with the full replay's state", async () => {
    await start();
    await waitFor("6 placements", placedAll(6));
    await stopAll();
    const first = await headSeq();
    expect(first).toBeGreaterThan(0);
    await appendAll(store, Array.from({ length: 6 }, (_, i) => lifecycle(i)).flat(), 1);
    const end = await store.lastStreamSeq();
    // A start with a long tail (30 events, more than every 10) writes a snapshot at the end of its replay.
    const s1 = await start(10);
    expect(s1.startedFromSeq).toBe(first);
    await waitFor("a snapshot at the log's end", async () => (await headSeq()) >= end || undefined);
    await stopAll();
    expect(s1.state()).toEqual(await fullReplay(s1));

    await appendAll(store, [queued("late-1"), queued("late-2")], 1);
    const head = await snaps.read(await version());
    expect(head.ok).toBe(true);
    // Its log time (what `oneshot state --at` chooses by): the latest occurredAt of the events it holds.
    const held = (await readLog(store)).filter((e) => head.ok && e.seq <= head.head.seq);
    expect(head.ok && head.head.logTime).toBe(new Date(Math.max(...held.map((e) => Date.parse(e.occurredAt)))).toISOString());
    const s2 = await start();
    expect(s2.startedFromSeq).toBe((head as { head: { seq: number } }).head.seq);
    await waitFor("late jobs placed", placedAll(8));
    await stopAll();
    expect(s2.state()).toEqual(await fullReplay(s2));
  });

  it("refuses a damaged snapshot and replays the whole log", async () => {
    await appendAll(
      store,
      Array.from({ length: 12 }, (_, i) => queued(`x${i}`)),
      1,
    );
    await start(5);
    await waitFor("a snapshot", async () => (await snaps.read(await version())).ok || undefined);
    await stopAll();
    const good = await snaps.read(await version());
    if (!good.ok) throw new Error("no snapshot");
    // One flipped byte in the state: the sha256 in the head no longer matches.
    const bytes = Buffer.from(good.bytes);
    const mid = Math.floor(bytes.length / 2);
    bytes[mid] = bytes[mid]! ^ 0xff;
    await kv.put(`scheduler.${good.head.seq}.0`, bytes.subarray(0, 512 * 1024));
    expect(await snaps.read(await version())).toMatchObject({ ok: false, reason: "corrupt" });
    const s = await start(0);
    expect(s.startedFromSeq).toBeUndefined();
    await stopAll();
    expect(s.state()).toEqual(await fullReplay(s));
  });

  it("refuses a snapshot that decodes to something that is not a scheduler state", async () => {
    const seq = await store.lastStreamSeq();
    await snaps.write(seq, await version(), Buffer.from([0x93, 1, 2, 3]), new Date().toISOString()); // a msgpack array [1,2,3]
    const s = await start(0);
    expect(s.startedFromSeq).toBeUndefined();
    await stopAll();
    expect(s.state().lastSeq).toBeGreaterThan(0);
  });

  it("ignores a snapshot of another stream of the same name (deleted and created again)", async () => {
    await appendAll(
      store,
      Array.from({ length: 12 }, (_, i) => queued(`y${i}`)),
      1,
    );
    await start(5);
    await waitFor("a snapshot", async () => (await snaps.read(await version())).ok || undefined);
    await stopAll();
    const old = await version();
    await nats.jsm.streams.delete("EVENTS");
    ({ store, close } = await reconnect());
    await appendAll(store, [registered("h9"), ...Array.from({ length: 30 }, (_, i) => queued(`z${i}`))], 1);
    expect((await version()).code).not.toBe(old.code);
    const s = await start(0);
    expect(s.startedFromSeq).toBeUndefined();
    await stopAll();
    expect(s.state().jobs.has("y0")).toBe(false);
    expect(s.state()).toEqual(await fullReplay(s));
  });

  it("ignores a snapshot written by other code (never misreads it)", async () => {
    await start(5);
    await waitFor("6 placements", placedAll(6));
    await waitFor("a snapshot", async () => (await snaps.read(await version())).ok || undefined);
    await stopAll();
    const good = await snaps.read(await version());
    if (!good.ok) throw new Error("no snapshot");
    await snaps.write(good.head.seq, { schema: good.head.schema, code: "another-build" }, good.bytes, new Date().toISOString());
    expect(await snaps.read(await version())).toMatchObject({ ok: false, reason: "foreign" });
    await snaps.write(good.head.seq, { schema: good.head.schema + 1, code: good.head.code }, good.bytes, new Date().toISOString());
    expect(await snaps.read(await version())).toMatchObject({ ok: false, reason: "foreign" });
    const s = await start(0);
    expect(s.startedFromSeq).toBeUndefined();
    await stopAll();
    expect(s.state()).toEqual(await fullReplay(s));
  });
});
