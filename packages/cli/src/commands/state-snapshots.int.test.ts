import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Kvm } from "@nats-io/kv";
import { subjects, type DomainEvent, type Stored } from "@oneshot/proto";
import { EventStore, SNAPSHOT_BUCKET, SnapshotStore, connectNats, createLogger, encodeState, type Nats, type SnapshotVersion } from "@oneshot/runtime";
import { evolve, initialState, place, type SchedulerState } from "@oneshot/scheduler";
import { freePort, missing, startNats, type TestNats } from "@oneshot/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queued, registered } from "../../../../services/scheduler/src/testing/fixtures.js";
import { envVarFor, natsConfig } from "../admin/nats-config.js";
import { provisionAll } from "../admin/provision.js";
import { applyToFleet, emptyFleet, type Fleet } from "../view/fleet.js";

// The built CLI (`oneshot state --at`, `oneshot jobs`) as the read-only audit identity against a
// real nats-server with the generated permissions: it starts from the newest snapshot whose log
// time is at or before the moment, prints exactly what a full replay prints, skips a damaged
// snapshot for the one before, ignores a foreign one, and may read but never write snapshots.

const execFileP = promisify(execFile);
const root = join(import.meta.dirname, "..", "..", "..", "..");
const cliMain = join(root, "packages", "cli", "dist", "main.js");
const schedulerDist = join(root, "services", "scheduler", "dist", "loop", "snapshots.js");
const fleetDist = join(root, "packages", "cli", "dist", "view", "fleet-snapshot.js");
const built = existsSync(cliMain) && existsSync(schedulerDist) && existsSync(fleetDist);
const skip = missing("nats") ?? (built ? undefined : "the built CLI and scheduler (npx tsc -b) are missing");
const log = createLogger("state-snapshots-test", { level: "silent" });

describe.skipIf(skip)("oneshot state --at / jobs from snapshots (real nats-server, built CLI, audit identity)", () => {
  let server: TestNats;
  let admin: Nats;
  let store: EventStore;
  let snaps: SnapshotStore;
  let version: SnapshotVersion;
  let fleetVersion: SnapshotVersion;
  const passwords: Record<string, string> = {};
  const t0 = Date.now();
  const at = (s: number) => new Date(t0 + s * 1000);
  let clock = 0;
  let log_: Stored<DomainEvent>[] = [];
  /** Appends in order, each event one second after the last (by occurredAt). */
  const append = async (events: DomainEvent[]) => {
    for (const e of events) await store.append(e, { correlationId: "state-test", occurredAt: at(++clock).toISOString() });
  };
  const readLog = async () => {
    const out: Stored<DomainEvent>[] = [];
    await store.replay(subjects.allEvents, (e) => void out.push(e));
    return out;
  };
  const foldTo = (events: Stored<DomainEvent>[], until: Date): SchedulerState =>
    events.filter((e) => new Date(e.occurredAt) <= until).reduce((s, e) => evolve(s, e), initialState());
  const cli = async (...args: string[]) => {
    const { stdout } = await execFileP(process.execPath, [cliMain, ...args], {
      env: { ...process.env, NATS_URL: server.url, NATS_USER: "audit", NATS_PASSWORD: passwords.audit!, ONESHOT_CLI_LOG_LEVEL: "error" },
    });
    return stdout;
  };
  const stateAt = async (when: Date) => JSON.parse(await cli("state", "--at", when.toISOString(), "--json")) as Record<string, unknown>;
  /** What the CLI prints, computed here from the whole log. */
  const expected = (s: SchedulerState) => {
    const jobs = [...s.jobs.values()];
    return JSON.parse(
      JSON.stringify({
        lastSeq: s.lastSeq,
        hosts: [...s.hosts.values()],
        pending: jobs.filter((j) => j.phase === "pending").map((j) => ({ jobId: j.jobId, org: j.org, spec: j.spec, attempt: j.attempt })),
        placed: jobs.filter((j) => j.phase === "placed").map((j) => ({ jobId: j.jobId, hostId: j.hostId, vmId: j.vmId, spec: j.spec })),
        finishedJobs: s.finished.size,
      }),
    ) as Record<string, unknown>;
  };
  const snapshotAt = async (seq: number) => {
    const events = (await readLog()).filter((e) => e.seq <= seq);
    const state = events.reduce((s, e) => evolve(s, e), initialState());
    const logTime = new Date(Math.max(...events.map((e) => Date.parse(e.occurredAt)))).toISOString();
    await snaps.write(seq, version, encodeState(state), new Date().toISOString(), logTime);
    return { seq, logTime: new Date(logTime) };
  };
  let s1: { seq: number; logTime: Date };
  let s2: { seq: number; logTime: Date };

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "oneshot-state-"));
    const port = await freePort();
    for (const u of ["admin", "ingest", "scheduler", "janitor", "audit"]) {
      passwords[u] = `pw-${u}`;
      process.env[envVarFor(u)] = passwords[u];
    }
    const conf = join(dir, "nats.conf");
    writeFileSync(conf, natsConfig({ hosts: [], port, listen: "127.0.0.1", storeDir: join(dir, "js") }));
    server = await startNats({ port, config: conf });
    admin = await connectNats({ url: server.url, name: "admin", user: "admin", password: passwords.admin }, log);
    await provisionAll(admin, [], log);
    store = new EventStore(admin.js, admin.jsm);
    snaps = new SnapshotStore(await new Kvm(admin.js).open(SNAPSHOT_BUCKET), "scheduler");
    // The versions the built CLI computes (a hash of the built core): the scheduler writes with its own build's.
    version = ((await import(schedulerDist)) as { schedulerSnapshotVersion: (c: string) => SnapshotVersion }).schedulerSnapshotVersion(
      await store.streamCreated(),
    );
    fleetVersion = ((await import(fleetDist)) as { fleetSnapshotVersion: (c: string) => SnapshotVersion }).fleetSnapshotVersion(await store.streamCreated());

    // Phase A: hosts and queued jobs; B: the scheduler's placements and some ends; C: more jobs.
    await append([registered("h0"), registered("h1", { vcpus: 2 }), ...Array.from({ length: 6 }, (_, i) => queued(`j${i}`, { vcpus: 2 }))]);
    s1 = await snapshotAt(await store.lastStreamSeq());
    const decided = place(foldTo(await readLog(), at(clock)), at(clock).toISOString());
    await append([...decided.map((d) => d.event), { type: "JobCompleted", data: { jobId: "j0", conclusion: "success", exitCode: 0, reportedBy: "provider" } }]);
    s2 = await snapshotAt(await store.lastStreamSeq());
    await append([queued("j6"), { type: "JobCancelled", data: { jobId: "j1", reason: "test" } }, queued("j7")]);
    log_ = await readLog();
  });
  afterAll(async () => {
    await admin?.nc.close();
    await server?.dispose();
  });

  it("starts from the newest snapshot at or before the moment and prints what a full replay gives", async () => {
    const moments = [
      { when: at(3), from: null }, // before the first snapshot's log time
      { when: s1.logTime, from: s1.seq }, // exactly at it
      { when: new Date(s2.logTime.getTime() - 1), from: s1.seq }, // between the two
      { when: s2.logTime, from: s2.seq },
      { when: at(clock + 60), from: s2.seq }, // after the log's end
    ];
    for (const m of moments) {
      const out = await stateAt(m.when);
      expect({ when: m.when.toISOString(), from: out.fromSnapshotSeq }).toEqual({ when: m.when.toISOString(), from: m.from });
      const { at: _at, fromSnapshotSeq: _f, eventsRead, ...rest } = out;
      expect(rest).toEqual(expected(foldTo(log_, m.when)));
      // Only the tail after the snapshot was read.
      if (m.from !== null) expect(eventsRead).toBe(log_.filter((e) => e.seq > m.from!).length);
    }
    expect(s2.seq - s1.seq).toBeGreaterThan(2);
  });

  it("skips a damaged snapshot for the one before it, and the output does not change", async () => {
    const good = await snaps.read(version);
    if (!good.ok) throw new Error("no snapshot");
    const kv = await new Kvm(admin.js).open(SNAPSHOT_BUCKET);
    const bytes = Buffer.from(good.bytes);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    await kv.put(`scheduler.${s2.seq}.0`, bytes);
    const when = at(clock + 60);
    const out = await stateAt(when);
    expect(out.fromSnapshotSeq).toBe(s1.seq);
    const { at: _at, fromSnapshotSeq: _f, eventsRead: _n, ...rest } = out;
    expect(rest).toEqual(expected(foldTo(log_, when)));
    await kv.put(`scheduler.${s2.seq}.0`, good.bytes);
  });

  it("ignores a foreign snapshot (other code) and replays the whole log", async () => {
    const last = await store.lastStreamSeq();
    const state = foldTo(log_, at(clock + 60));
    await snaps.write(last, { schema: version.schema, code: "another-build" }, encodeState(state), new Date().toISOString(), at(clock).toISOString());
    const when = at(clock + 60);
    const out = await stateAt(when);
    expect(out.fromSnapshotSeq).toBeNull();
    const { at: _at, fromSnapshotSeq: _f, eventsRead, ...rest } = out;
    expect(eventsRead).toBe(log_.length);
    expect(rest).toEqual(expected(foldTo(log_, when)));
    // The scheduler's next snapshot of this build is read again.
    await snapshotAt(last);
    expect((await stateAt(when)).fromSnapshotSeq).toBe(last);
  });

  it("oneshot jobs starts from the fleet snapshot (the janitor's) and prints what a full replay gives", async () => {
    const fleetSnaps = new SnapshotStore(await new Kvm(admin.js).open(SNAPSHOT_BUCKET), "fleet");
    const fold = (events: Stored<DomainEvent>[]) => events.reduce((f, e) => applyToFleet(f, e), emptyFleet());
    const full = await cli("jobs", "--all", "--json");
    const rows = (text: string) =>
      text
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { jobId: string });
    expect(rows(full)).toEqual(JSON.parse(JSON.stringify([...fold(log_).jobs.values()])));
    // A snapshot with a row no event made: its presence proves the snapshot was read.
    const marked: Fleet = fold(log_.filter((e) => e.seq <= s1.seq));
    marked.jobs.set("only-in-snapshot", { jobId: "only-in-snapshot", provider: "local", repo: "x", state: "queued", updatedAt: at(1).toISOString() });
    await fleetSnaps.write(s1.seq, fleetVersion, encodeState(marked), new Date().toISOString(), s1.logTime.toISOString());
    expect(rows(await cli("jobs", "--all", "--json")).map((r) => r.jobId)).toContain("only-in-snapshot");
    // The real one: the same rows as the full replay.
    await fleetSnaps.write(s2.seq, fleetVersion, encodeState(fold(log_.filter((e) => e.seq <= s2.seq))), new Date().toISOString(), s2.logTime.toISOString());
    expect(await cli("jobs", "--all", "--json")).toBe(full);
  });

  it("the audit identity reads the scheduler's and fleet's snapshots and may write none", async () => {
    const audit = await connectNats({ url: server.url, name: "audit", user: "audit", password: passwords.audit }, log);
    try {
      const kv = await new Kvm(audit.js).open(SNAPSHOT_BUCKET);
      expect((await kv.get("scheduler.head"))?.operation).toBe("PUT");
      expect((await kv.get("fleet.head"))?.operation).toBe("PUT");
      expect(
        await kv.put("scheduler.head", "{}").then(
          () => "written",
          (e: Error) => e.message,
        ),
      ).not.toBe("written");
      expect(
        await kv.put("fleet.head", "{}").then(
          () => "written",
          (e: Error) => e.message,
        ),
      ).not.toBe("written");
    } finally {
      await audit.nc.close();
    }
    // Nothing the audit identity tried was stored.
    expect((await snaps.read(version)).ok).toBe(true);
  });
});
