import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { connectTest, freePort, missing, startNats, waitFor, type TestNats } from "@oneshot/testing";
import { subjects } from "@oneshot/proto";
import type { EventStore } from "@oneshot/runtime";
import { auditLog } from "./testing/audit.js";
import { queued } from "./testing/fixtures.js";
import { Tally, appendAll, burstJobs, fakeHostd, fleetHosts, readLog } from "./testing/fleet.js";
import { buildScheduler, healthy, startSchedulerProcess, type SchedulerProcess } from "./testing/scheduler-process.js";

// Two scheduler processes against one real nats-server: 20 hosts, 1,000 jobs of mixed sizes
// and arches in a burst, VMs "run" for a moment and are destroyed (a stand-in for hostd), so
// capacity is taken and freed many times. The proof is read from the log, not asked of the
// schedulers: every job placed exactly once, no host over capacity at any point of history.
// One holds the lease and decides; the other follows the log and takes over when it dies.

const skip = missing("nats");
const JOBS = 1000;
// Five jobs no host could hold: each must be JobUnschedulable exactly once, never placed.
const tooBig = Array.from({ length: 5 }, (_, i) => queued(`huge${i}`, { vcpus: 64, org: "org9" }));

describe.skipIf(skip)("two schedulers, 20 hosts, a burst of 1,000 jobs (real nats-server, real processes)", () => {
  let server: TestNats;
  let store: EventStore;
  let close: () => Promise<void>;
  let schedulers: SchedulerProcess[] = [];
  let stops: (() => Promise<void>)[] = [];
  const hostdErrors: unknown[] = [];

  beforeAll(() => buildScheduler(), 180_000);
  beforeEach(async () => {
    server = await startNats();
    ({ store, close } = await connectTest(server.url));
    await appendAll(store, fleetHosts(20));
    schedulers = [];
    for (const name of ["a", "b"]) schedulers.push(startSchedulerProcess(name, server.url, await freePort()));
    for (const s of schedulers) await waitFor(`scheduler ${s.name} healthy`, () => healthy(s), 30_000);
    stops = [await fakeHostd(store, () => 5 + Math.floor(Math.random() * 40), hostdErrors)];
  });
  afterEach(async () => {
    for (const stop of stops) await stop();
    for (const s of schedulers) await s.stop();
    await close?.();
    await server?.dispose();
  });
  afterAll(() => expect(hostdErrors).toEqual([]));

  async function runBurst(whileRunning?: (t: Tally) => Promise<void>): Promise<Tally> {
    const tally = new Tally();
    stops.push(await store.follow(subjects.allEvents, tally.see));
    const jobs = burstJobs(JOBS);
    const burst = appendAll(store, [...jobs.slice(0, 500), ...tooBig, ...jobs.slice(500)]);
    await whileRunning?.(tally);
    await burst;
    await waitFor(
      "every job placed and run, every local job completed",
      () => {
        if (tally.placedTwice.length) return true; // broken: stop waiting, the check below says why
        return tally.scheduled.size === JOBS && tally.destroyed >= JOBS && tally.completed.size === JOBS / 2 && tally.unschedulable.size === tooBig.length;
      },
      240_000,
      200,
    ).catch((e: Error) => {
      throw new Error(
        `${e.message}: scheduled ${tally.scheduled.size}, destroyed ${tally.destroyed}, completed ${tally.completed.size}, unschedulable ${tally.unschedulable.size}\n${schedulers.map((s) => `--- ${s.name}\n${s.output().slice(-3000)}`).join("\n")}`,
      );
    });
    expect(tally.placedTwice, "job attempts placed twice").toEqual([]);
    return tally;
  }

  /** Stops everything that writes, then reads the whole log back and checks it. */
  async function proveFromLog(): Promise<void> {
    for (const s of schedulers) await s.stop();
    for (const stop of stops.splice(0)) await stop();
    const audit = auditLog(await readLog(store));
    expect(audit.violations).toEqual([]);
    expect(audit.placements.size).toBe(JOBS);
    expect([...audit.placements.values()].every((n) => n === 1)).toBe(true);
    expect(audit.completions.size).toBe(JOBS / 2);
    expect([...audit.completions.values()].every((n) => n === 1)).toBe(true);
    expect(audit.requeues.size).toBe(0);
    expect([...audit.unschedulable.keys()].sort()).toEqual(tooBig.map((e) => e.data.jobId).sort());
    expect([...audit.unschedulable.values()].every((n) => n === 1)).toBe(true);
    // The hosts were really contended: some host was full on vCPUs at some point.
    expect([...audit.peakVcpus.entries()].some(([h, v]) => v === (h.startsWith("amd") ? 16 : 8))).toBe(true);
  }

  /** The instance holding the lease (scheduler_leader 1); the other stands by (0). */
  async function leaderAndStandby(): Promise<[SchedulerProcess, SchedulerProcess]> {
    return waitFor(
      "one leader and one standby",
      async () => {
        const flags = await Promise.all(schedulers.map((s) => s.metric("scheduler_leader")));
        if (flags.filter((f) => f === 1).length !== 1) return undefined;
        const i = flags.indexOf(1);
        return [schedulers[i]!, schedulers[1 - i]!] as [SchedulerProcess, SchedulerProcess];
      },
      30_000,
      100,
    );
  }

  it("places every job exactly once and never overbooks a host, one scheduler deciding while the other stands by", async () => {
    await runBurst();
    const [leader, standby] = await leaderAndStandby();
    expect(await leader.metric("scheduler_placements_total")).toBeGreaterThan(0);
    // The standby followed the whole log and decided nothing: no placement, conflict or duplicate.
    for (const m of ["scheduler_placements_total", "scheduler_conflicts_total", "scheduler_duplicates_total"]) expect(await standby.metric(m), m).toBe(0);
    expect(await standby.metric("scheduler_log_seq")).toBeGreaterThan(0);
    await proveFromLog();
  }, 300_000);

  it("gives the same result when the deciding scheduler is killed (SIGKILL) in the middle of the burst: the standby takes over", async () => {
    const [victim, survivor] = await leaderAndStandby();
    await runBurst(async (tally) => {
      await waitFor("a third of the jobs placed", () => tally.scheduled.size >= JOBS / 3, 120_000, 20);
      await victim.kill9();
    });
    expect(victim.proc.signalCode).toBe("SIGKILL");
    expect(survivor.proc.exitCode).toBeNull();
    expect(await survivor.metric("scheduler_leader")).toBe(1);
    expect(await survivor.metric("scheduler_placements_total")).toBeGreaterThan(0);
    await proveFromLog();
  }, 300_000);
});
