import { existsSync } from "node:fs";
import { join } from "node:path";
import type { KV } from "@nats-io/kv";
import { applyToFleet, emptyFleet, type Fleet } from "@oneshot/cli/read-models";
import { subjects, vmIdFor, type DomainEvent, type Stored } from "@oneshot/proto";
import { SNAPSHOT_BUCKET, SnapshotStore, decodeState, ensureKv, type EventStore, type Nats, type SnapshotVersion } from "@oneshot/runtime";
import { connectTest, missing, startNats, waitFor, type TestNats } from "@oneshot/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { queued, registered } from "../../scheduler/src/testing/fixtures.js";
import { evolve, initialDesired } from "./core/desired-state.js";
import type { DesiredSnapshot } from "./desired-snapshots.js";
import { startJanitorProcess, type JanitorProc } from "./janitor.test-kit.js";

// The built janitor against a real nats-server and its snapshot bucket: it writes snapshots of
// its desired state (and of the CLI's fleet read model), starts from the newest one and reads
// only the tail, and refuses a damaged or foreign one (the whole log replayed instead).

const dist = join(import.meta.dirname, "..", "dist");
const skip = missing("nats") ?? (existsSync(join(dist, "desired-snapshots.js")) ? undefined : "services/janitor/dist is missing: npx tsc -b services/janitor");
const spec = { arch: "amd64", vcpus: 1, memMiB: 256, diskGiB: 1, image: "minimal", timeoutSec: 600 } as const;

/** A job's whole life on host h0: queued, placed, booted, run, ended. */
const life = (i: number): DomainEvent[] => {
  const jobId = `j${i}`;
  const r = { hostId: "h0", vmId: vmIdFor(jobId, 0), jobId };
  return [
    queued(jobId),
    { type: "JobScheduled", data: { ...r, spec, attempt: 0 } },
    { type: "VmBootRequested", data: { ...r, tap: `os-${r.vmId}`, disks: [] } },
    {
      type: "VmBooted",
      data: { ...r, vmm: "qemu", accel: "kvm", pid: 1, timings: { diskMs: 1, configMs: 1, netMs: 1, vmmStartMs: 1, agentReadyMs: 1, totalMs: 5 } },
    },
    ...(i % 2 ? [{ type: "JobCompleted", data: { jobId, conclusion: "success", exitCode: 0, reportedBy: "provider" } } as DomainEvent] : []),
  ];
};

/** Maps and Sets as arrays of their entries, in iteration order. */
const ordered = (x: unknown): unknown =>
  JSON.parse(JSON.stringify(x, (_k, v: unknown) => (v instanceof Map ? { map: [...v] } : v instanceof Set ? { set: [...v] } : v)));

describe.skipIf(skip)("janitor snapshots (real nats-server, built janitor)", () => {
  let server: TestNats;
  let nats: Nats;
  let store: EventStore;
  let close: () => Promise<void>;
  let kv: KV;
  let janitorSnaps: SnapshotStore;
  let fleetSnaps: SnapshotStore;
  let version: SnapshotVersion;
  let fleetVersion: SnapshotVersion;
  const running: JanitorProc[] = [];
  /** `every`: snapshot after that many events (a large one: read snapshots, write none here). */
  const start = async (every = 5) => {
    const j = await startJanitorProcess(server.url, { JANITOR_SNAPSHOT_EVERY: String(every), JANITOR_SNAPSHOT_SECONDS: "0", LOG_LEVEL: "info" });
    running.push(j);
    return j;
  };
  const stopAll = async () => {
    for (const j of running.splice(0)) await j.stop();
  };
  const append = async (events: DomainEvent[]) => {
    for (const e of events) await store.append(e, { correlationId: "snap-test" });
  };
  const readLog = async () => {
    const out: Stored<DomainEvent>[] = [];
    await store.replay(subjects.allEvents, (e) => void out.push(e));
    return out;
  };
  /** Where the janitor's start began, from its own log line. */
  const startedFrom = (j: JanitorProc): number | null | undefined => {
    const line = j
      .output()
      .split("\n")
      .find((l) => l.includes("event log replayed; following"));
    return line ? (JSON.parse(line) as { fromSnapshotSeq: number | null }).fromSnapshotSeq : undefined;
  };
  const headSeq = async (s: SnapshotStore, v: SnapshotVersion) => {
    const r = await s.read(v);
    return r.ok ? r.head.seq : 0;
  };

  beforeAll(async () => {
    server = await startNats();
    ({ nats, store, close } = await connectTest(server.url));
    kv = await ensureKv(nats, SNAPSHOT_BUCKET);
    janitorSnaps = new SnapshotStore(kv, "janitor");
    fleetSnaps = new SnapshotStore(kv, "fleet");
    const created = await store.streamCreated();
    // The versions the built janitor computes (a hash of its built core / the built CLI's view).
    version = ((await import(join(dist, "desired-snapshots.js"))) as { desiredSnapshotVersion: (c: string) => SnapshotVersion }).desiredSnapshotVersion(
      created,
    );
    fleetVersion = (
      (await import(join(dist, "..", "..", "..", "packages", "cli", "dist", "view", "fleet-snapshot.js"))) as {
        fleetSnapshotVersion: (c: string) => SnapshotVersion;
      }
    ).fleetSnapshotVersion(created);
    await append([registered("h0"), ...Array.from({ length: 4 }, (_, i) => life(i)).flat()]);
  });
  afterEach(stopAll);
  afterAll(async () => {
    await close?.();
    await server?.dispose();
  });

  it("writes snapshots, starts from the newest, reads only the tail, and holds the full replay's state", async () => {
    const j1 = await start();
    expect(startedFrom(j1)).toBeNull();
    const first = await store.lastStreamSeq();
    await waitFor(
      "both snapshots at the log's end",
      async () => ((await headSeq(janitorSnaps, version)) >= first && (await headSeq(fleetSnaps, fleetVersion)) >= first) || undefined,
    );
    await stopAll();

    await append(Array.from({ length: 3 }, (_, i) => life(10 + i)).flat());
    const end = await store.lastStreamSeq();
    const j2 = await start();
    expect(startedFrom(j2)).toBe(first);
    // Its tail was longer than 5: a snapshot at the end of the replay.
    await waitFor(
      "a snapshot at the new end",
      async () => ((await headSeq(janitorSnaps, version)) >= end && (await headSeq(fleetSnaps, fleetVersion)) >= end) || undefined,
    );
    await stopAll();

    const log = await readLog();
    const snap = await janitorSnaps.read(version);
    if (!snap.ok) throw new Error(snap.detail);
    const got = decodeState<DesiredSnapshot>(snap.bytes);
    const upTo = log.filter((e) => e.seq <= snap.head.seq);
    expect(ordered(got.desired)).toEqual(ordered(upTo.reduce((s, e) => evolve(s, e), initialDesired())));
    expect(ordered(got.seen)).toEqual(ordered(new Map([["h0", { registered: 1 }]])));
    expect(snap.head.logTime).toBe(new Date(Math.max(...upTo.map((e) => Date.parse(e.occurredAt)))).toISOString());
    const fleet = await fleetSnaps.read(fleetVersion);
    if (!fleet.ok) throw new Error(fleet.detail);
    expect(ordered(decodeState<Fleet>(fleet.bytes))).toEqual(
      ordered(log.filter((e) => e.seq <= fleet.head.seq).reduce((f, e) => applyToFleet(f, e), emptyFleet())),
    );
  });

  it("refuses a damaged snapshot and replays the whole log", async () => {
    const good = await janitorSnaps.read(version);
    if (!good.ok) throw new Error(good.detail);
    const bytes = Buffer.from(good.bytes);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    await kv.put(`janitor.${good.head.seq}.0`, bytes);
    const j = await start(1_000_000);
    expect(startedFrom(j)).toBeNull();
    expect(j.output()).toMatch(/"reason":"corrupt".*no usable snapshot/);
    await kv.put(`janitor.${good.head.seq}.0`, good.bytes);
  });

  it("ignores a snapshot of other code, or of a stream created again", async () => {
    const good = await janitorSnaps.read(version);
    if (!good.ok) throw new Error(good.detail);
    await janitorSnaps.write(good.head.seq, { schema: version.schema, code: "another-build" }, good.bytes, new Date().toISOString());
    const j = await start(1_000_000);
    expect(startedFrom(j)).toBeNull();
    expect(j.output()).toMatch(/"reason":"foreign"/);
    await stopAll();
    // The same bytes under this build's name, but folded from a stream deleted since: refused too.
    await janitorSnaps.write(good.head.seq, version, good.bytes, new Date().toISOString());
    await nats.jsm.streams.delete("EVENTS");
    await close();
    ({ nats, store, close } = await connectTest(server.url));
    await append([registered("h0"), ...life(0), ...life(1)]);
    const j2 = await start(1_000_000);
    expect(startedFrom(j2)).toBeNull();
  });
});
