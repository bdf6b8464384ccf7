import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { connectTest, freePort, missing, startNats, waitFor, type TestNats } from "@oneshot/testing";
import { subjects, vmIdFor, type DomainEvent, type EventOf, type Stored } from "@oneshot/proto";
import type { EventStore } from "@oneshot/runtime";
import { auditLog } from "./testing/audit.js";
import { fenced, hostEvent, jobEvent, lost, queued, registered, started, vmBootFailed, vmDestroyed, vmExited } from "./testing/fixtures.js";
import { Tally, appendAll, fakeHostd, readLog } from "./testing/fleet.js";
import { buildScheduler, healthy, startSchedulerProcess, type SchedulerProcess } from "./testing/scheduler-process.js";

// One scheduler process against a real nats-server; the test plays ingest, hostd and janitor
// by appending their events, and reads the scheduler's answers from the log.

const skip = missing("nats");

describe.skipIf(skip)("scheduler process: capacity, lost hosts, boot failures, restarts (real nats-server)", () => {
  let server: TestNats;
  let store: EventStore;
  let close: () => Promise<void>;
  let tally: Tally;
  let stopTally: () => Promise<void>;
  const procs: SchedulerProcess[] = [];
  const start = async (env: Record<string, string> = {}) => {
    const p = startSchedulerProcess(`s${procs.length}`, server.url, await freePort(), env);
    procs.push(p);
    await waitFor(`scheduler ${p.name} healthy`, () => healthy(p), 30_000);
    return p;
  };
  const append = (...events: DomainEvent[]) => appendAll(store, events, 1);
  const placed =
    (jobId: string, attempt = 0) =>
    () =>
      tally.events.find((e): e is Stored<EventOf<"JobScheduled">> => e.type === "JobScheduled" && e.data.jobId === jobId && e.data.attempt === attempt);

  /**
   * Returns once every decision the scheduler made on the log so far is visible, without a
   * clock: probe q1 is placed in some round R whose state holds everything appended before it;
   * q2, appended after q1's placement, can only be placed in a later round, which starts after
   * all of R's appends, so they precede q2's placement in the log.
   */
  let probes = 0;
  const settled = async () => {
    for (let i = 0; i < 2; i++) {
      const id = `probe${probes++}`;
      await append(queued(id, { arch: "arm64", vcpus: 1, memMiB: 256, diskGiB: 1 }));
      await waitFor(`${id} placed`, placed(id));
    }
  };

  beforeAll(() => buildScheduler(), 180_000);
  beforeEach(async () => {
    server = await startNats();
    ({ store, close } = await connectTest(server.url));
    tally = new Tally();
    stopTally = await store.follow(subjects.allEvents, tally.see);
  });
  afterEach(async () => {
    for (const p of procs.splice(0)) await p.stop();
    await stopTally();
    await close?.();
    await server?.dispose();
  });

  it("answers /healthz once it has replayed the log", async () => {
    const p = await start();
    const res = await fetch(`http://127.0.0.1:${p.port}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok", failing: [] });
  });

  it("frees capacity at VmDestroyed, not at JobCompleted or VmExited, and then places the waiting job", async () => {
    await start();
    await append(registered("h1", { vcpus: 4 }), registered("arm1", { arch: "arm64", vcpus: 64 }), queued("a", { vcpus: 4 }));
    const a = (await waitFor("a placed", placed("a"))).data;
    expect(a.hostId).toBe("h1");
    await append(queued("b", { vcpus: 4 }));
    await settled();
    expect(placed("b")(), "b placed while h1 is full").toBeUndefined();
    // Its runner ran it, GitHub says the job completed and the VM exited: the VM still holds the host.
    await append(started("a", a), jobEvent("JobCompleted", "a"), vmExited(a));
    await settled();
    expect(placed("b")(), "b placed before a's VM was destroyed").toBeUndefined();
    // The VM is destroyed: b goes to h1 at once.
    await append(vmDestroyed(a));
    expect((await waitFor("b placed", placed("b"))).data.hostId).toBe("h1");
    expect(auditLog(await readLog(store)).violations).toEqual([]);
  });

  it("requeues the jobs of a lost host once it fenced (docs/fencing.md), and places them on another host", async () => {
    await start();
    await append(registered("h1"), registered("h2"), hostEvent("HostCordoned", "h2"), queued("j", { provider: "local" }));
    expect((await waitFor("j placed", placed("j"))).data.hostId).toBe("h1");
    await append(hostEvent("HostUncordoned", "h2"), lost("h1"));
    // Lost is not dead: until the host fenced (or its lease ran out) its VM may still run the job.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(tally.events.filter((e) => e.type === "JobRequeued")).toEqual([]);
    await append(fenced("h1", [vmIdFor("j", 0)]));
    const requeued = await waitFor("JobRequeued", () => tally.events.find((e) => e.type === "JobRequeued"));
    expect(requeued.data).toEqual({
      jobId: "j",
      fromHostId: "h1",
      vmId: vmIdFor("j", 0),
      attempt: 1,
      reason: "host lost (no heartbeat for 60s); it stopped its VMs",
      releasesVm: false,
    });
    const again = (await waitFor("j placed again", placed("j", 1))).data;
    expect(again).toMatchObject({ hostId: "h2", vmId: vmIdFor("j", 1) });
    const audit = auditLog(await readLog(store));
    expect(audit.violations).toEqual([]);
    expect(audit.placements.get("j")).toBe(2);
  });

  it("requeues a job whose VM failed to boot, and fails it after SCHEDULER_MAX_ATTEMPTS boot failures", async () => {
    await start({ SCHEDULER_MAX_ATTEMPTS: "2" });
    await append(registered("h1"), queued("doomed", { provider: "local" }));
    for (const attempt of [0, 1]) {
      const vm = (await waitFor(`attempt ${attempt} placed`, placed("doomed", attempt))).data;
      expect(vm.vmId).toBe(vmIdFor("doomed", attempt));
      await append(vmBootFailed(vm), vmDestroyed(vm));
    }
    const failed = await waitFor("JobFailed", () => tally.events.find((e) => e.type === "JobFailed"));
    expect(failed.data).toMatchObject({ jobId: "doomed", reason: expect.stringMatching(/^boot failed 2 times/) });
    expect(tally.events.filter((e) => e.type === "JobRequeued")).toHaveLength(1);
  });

  it("loses nothing across a SIGKILL: jobs queued while it is down, or pending when it died, are placed after restart", async () => {
    const errors: unknown[] = [];
    const stopHostd = await fakeHostd(store, () => 5, errors);
    const first = await start();
    await append(registered("h1", { vcpus: 2 }));
    await appendAll(
      store,
      Array.from({ length: 30 }, (_, i) => queued(`r${i}`, { vcpus: 1, provider: "local" })),
    );
    await waitFor("some placed", () => tally.scheduled.size >= 5, 30_000, 10);
    await first.kill9();
    await appendAll(
      store,
      Array.from({ length: 10 }, (_, i) => queued(`late${i}`, { vcpus: 1, provider: "local" })),
    );
    await start();
    await waitFor("every job placed and completed", () => tally.completed.size === 40, 60_000);
    await stopHostd();
    expect(errors).toEqual([]);
    const audit = auditLog(await readLog(store));
    expect(audit.violations).toEqual([]);
    expect(audit.placements.size).toBe(40);
    expect([...audit.placements.values(), ...audit.completions.values()].every((n) => n === 1)).toBe(true);
  });

  it("rebinds a job whose VM another job's runner took, and declares a VM idle once nothing is left for it", async () => {
    await start();
    await append(registered("h1"), registered("arm1", { arch: "arm64", vcpus: 64 }), queued("c"), queued("d"));
    const c = (await waitFor("c placed", placed("c"))).data;
    const d = (await waitFor("d placed", placed("d"))).data;
    // GitHub hands d to c's runner: c takes d's VM instead of a new boot.
    await append(started("d", c));
    const rebound = await waitFor("JobRebound", () => tally.events.find((e): e is Stored<EventOf<"JobRebound">> => e.type === "JobRebound"));
    expect(rebound.subject).toBe("evt.job.c");
    expect(rebound.data).toMatchObject({ jobId: "c", hostId: "h1", vmId: d.vmId, fromVmId: c.vmId });
    // c is cancelled before its runner picks it up: the VM has nothing left to do.
    await append(jobEvent("JobCancelled", "c"));
    const idle = await waitFor("VmIdle", () => tally.events.find((e): e is Stored<EventOf<"VmIdle">> => e.type === "VmIdle"));
    expect(idle.subject).toBe("evt.host.h1");
    expect(idle.data).toMatchObject({ hostId: "h1", vmId: d.vmId, bootedForJobId: "d", runnerName: `oneshot-h1-${d.vmId}` });
    await settled();
    expect(tally.events.filter((e) => e.type === "VmIdle")).toHaveLength(1);
    expect(placed("c", 1)(), "c booted a new VM").toBeUndefined();
  });

  it("stops at start with one line naming a bad variable", async () => {
    const p = startSchedulerProcess("bad", server.url, await freePort(), { SCHEDULER_MAX_ATTEMPTS: "zero" });
    expect(await p.exited).toBe(78);
    expect(p.output()).toMatch(/^oneshot-scheduler: invalid configuration: SCHEDULER_MAX_ATTEMPTS: /m);
  });
});
