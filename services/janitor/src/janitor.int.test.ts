import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { subjects, type EventOf, type Stored } from "@oneshot/proto";
import type { EventStore, Nats } from "@oneshot/runtime";
import { connectTest, missing, startNats, waitFor, type TestNats } from "@oneshot/testing";
import { FakeHost, JOB_DECISIONS, addTo, eventsOn, runningJob, startJanitorProcess, vmResources, type JanitorProc } from "./janitor.test-kit.js";

// Real nats-server, real janitor processes (dist/main.js); hostd is played by FakeHost, which
// publishes the same telemetry and answers reclaims the way hostd does.
const skip = missing("nats");
type Reclaim = Stored<EventOf<"ReclaimRequested">>;

const reclaimsOn = async (store: EventStore, hostId: string): Promise<Reclaim[]> =>
  (await eventsOn(store, subjects.host(hostId))).filter((e): e is Reclaim => e.type === "ReclaimRequested");
const names = (r: Reclaim) => r.data.resources.map((x) => `${x.kind}:${x.name}`).sort();

/** After every scenario: the janitor appended no job decision at all (its own count, by event type). */
async function expectNoJobDecisions(j: JanitorProc): Promise<void> {
  for (const type of JOB_DECISIONS) expect(await j.metric("janitor_appends_total", { type }), type).toBe(0);
}

describe.skipIf(skip)("janitor against a real nats-server", () => {
  let server: TestNats;
  let nats: Nats;
  let store: EventStore;
  let close: () => Promise<void>;
  let janitor: JanitorProc;
  const hosts: FakeHost[] = [];
  const host = (id: string) => {
    const h = new FakeHost(nats, store, id);
    hosts.push(h);
    return h;
  };

  beforeAll(async () => {
    server = await startNats();
    ({ nats, store, close } = await connectTest(server.url));
    // An old deployment file still sets the variables that moved to the scheduler: warned about, not fatal.
    janitor = await startJanitorProcess(server.url, { JANITOR_VANISHED_POLICY: "fail", JANITOR_MAX_ATTEMPTS: "3", JANITOR_FENCE_WAIT: "3" });
  });
  afterEach(async () => expectNoJobDecisions(janitor));
  afterAll(async () => {
    for (const h of hosts) await h.close();
    await janitor?.stop();
    await close?.();
    await server?.dispose();
  });

  it("warns once that JANITOR_VANISHED_POLICY and JANITOR_MAX_ATTEMPTS moved to the scheduler, and runs", async () => {
    const lines = janitor
      .output()
      .split("\n")
      .filter((l) => l.includes("moved to the scheduler"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/"JANITOR_VANISHED_POLICY":"SCHEDULER_VANISHED_POLICY"/);
    expect(lines[0]).toMatch(/"JANITOR_MAX_ATTEMPTS":"SCHEDULER_MAX_ATTEMPTS"/);
    expect(lines[0]).toMatch(/"level":40/);
  });

  it("answers /healthz with ok once it has replayed the log", async () => {
    const r = await fetch(`http://127.0.0.1:${janitor.port}/healthz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: "ok", failing: [] });
    expect(await janitor.metric("janitor_is_leader")).toBe(1);
  });

  it("asks a host to reclaim a finished job's VM and an unknown tap, with the reason, and never names what is not ours", async () => {
    const h = host("h-leak");
    await h.register();
    await runningJob(store, "j-leak", "leakvm1", h.hostId);
    const done = await store.append(
      { type: "JobCompleted", data: { jobId: "j-leak", conclusion: "success", exitCode: 0, reportedBy: "vm" } },
      { correlationId: "req-j-leak" },
    );
    addTo(h.inv, vmResources("leakvm1"));
    addTo(h.inv, {
      vms: [{ vmId: "Not-Ours", pid: 1 }],
      taps: ["os-plant1", "eth9", "tap0", "os-UPPER"],
      disks: ["/var/lib/libvirt/images/vm.qcow2", "/s/hostd/vms/../x/root.qcow2"],
      nftRules: ["libvirt:abc"],
      runDirs: ["/srv/vms/../etc"],
    });
    await h.startReporting();

    const forVm = await waitFor(
      "ReclaimRequested for leakvm1",
      async () => (await reclaimsOn(store, h.hostId)).find((r) => r.data.resources.some((x) => x.vmId === "leakvm1")),
      30_000,
      200,
    );
    expect(names(forVm)).toEqual([
      "disk:/s/hostd/vms/leakvm1/root.qcow2",
      "nft:oneshot:leakvm1",
      "rundir:/s/hostd/vms/leakvm1",
      "tap:os-leakvm1",
      "vm:leakvm1",
    ]);
    expect(forVm.data.reason).toMatch(/^job-completed: job j-leak completed \(success\)/);
    expect(forVm.correlationId).toBe("req-j-leak");
    expect(forVm.causationId).toBe(done.id);

    const forTap = await waitFor(
      "ReclaimRequested for os-plant1",
      async () => (await reclaimsOn(store, h.hostId)).find((r) => r.data.resources.some((x) => x.name === "os-plant1")),
      30_000,
      200,
    );
    expect(names(forTap)).toEqual(["tap:os-plant1"]);
    expect(forTap.data.reason).toMatch(/^unknown-vm: VM plant1 is unknown to the event log/);

    // Let the janitor judge several more inventories after hostd answered and removed them.
    const ticks = await janitor.metric("janitor_tick_seconds_count");
    await waitFor("three more ticks", async () => (await janitor.metric("janitor_tick_seconds_count")) >= ticks + 3, 20_000, 200);
    const all = await reclaimsOn(store, h.hostId);
    expect(all.flatMap(names).sort()).toEqual([...names(forVm), ...names(forTap)].sort()); // each asked once, nothing foreign
    expect(await janitor.metric("janitor_reclaim_stuck_total")).toBe(0);
  });

  it("declares a host that stops heartbeating lost, states its lease expired when it never reports a fence, then reclaims its leftovers when it comes back", async () => {
    const h = host("h-lost");
    await h.register();
    await runningJob(store, "j-lost", "lostvm1", h.hostId);
    addTo(h.inv, vmResources("lostvm1"));
    await h.startReporting();
    await waitFor("a few heartbeats", async () => (await janitor.metric("janitor_tick_seconds_count")) > 0, 10_000);
    h.stopReporting();
    const lastBeat = Date.now();

    const lost = await waitFor("HostLost", async () => (await eventsOn(store, subjects.host(h.hostId))).find((e) => e.type === "HostLost"), 30_000, 200);
    if (lost.type !== "HostLost") throw new Error("unreachable");
    expect(lost.data.reason).toMatch(/^no heartbeat for \d+s \(limit 4s\)$/);
    expect(Date.parse(lost.data.lastSeenAt!)).toBeLessThanOrEqual(lastBeat);
    expect(await reclaimsOn(store, h.hostId)).toEqual([]); // nothing was asked of a silent host
    // No HostFenced came: JANITOR_FENCE_WAIT (3 s) after the HostLost, by the janitor's clock, its lease has run out.
    const expired = await waitFor(
      "HostLeaseExpired",
      async () => (await eventsOn(store, subjects.host(h.hostId))).find((e) => e.type === "HostLeaseExpired"),
      30_000,
      200,
    );
    if (expired.type !== "HostLeaseExpired") throw new Error("unreachable");
    expect(expired.data).toMatchObject({ hostId: h.hostId, lostSeq: lost.seq, reason: expect.stringMatching(/^no HostFenced \d+s after HostLost/) });
    expect(expired.data.waitedSec).toBeGreaterThanOrEqual(3);

    // The host comes back: hostd registers again and reports what is still on the machine.
    await h.register();
    await h.startReporting();
    const r = await waitFor("ReclaimRequested after the return", async () => (await reclaimsOn(store, h.hostId))[0], 30_000, 200);
    expect(names(r)).toEqual(
      names({
        data: {
          resources: [
            { kind: "vm", name: "lostvm1" },
            { kind: "tap", name: "os-lostvm1" },
            { kind: "disk", name: "/s/hostd/vms/lostvm1/root.qcow2" },
            { kind: "nft", name: "oneshot:lostvm1" },
            { kind: "rundir", name: "/s/hostd/vms/lostvm1" },
          ],
        },
      } as Reclaim),
    );
    expect(r.data.reason).toMatch(/^host-lost: host h-lost lost \(no heartbeat for \d+s \(limit 4s\)\); its lease ran out/);
    // The janitor makes no job decision here: HostLost is the scheduler's cue to requeue.
    expect((await eventsOn(store, subjects.job("j-lost"))).map((e) => e.type)).toEqual(["JobQueued"]);
  });

  it("judges liveness by when it received a heartbeat: a host whose clock is an hour behind is not lost while it heartbeats, one an hour ahead is lost as soon as it stops", async () => {
    const behind = host("h-behind");
    behind.clockSkewMs = -3_600_000;
    const ahead = host("h-ahead");
    ahead.clockSkewMs = 3_600_000;
    for (const h of [behind, ahead]) {
      await h.register();
      await h.startReporting();
    }
    // Three times JANITOR_HOST_LOST_AFTER (4 s) of heartbeats stamped an hour off, either way.
    await new Promise((r) => setTimeout(r, 12_000));
    const lostEvents = async (id: string) => (await eventsOn(store, subjects.host(id))).filter((e) => e.type === "HostLost");
    expect(await lostEvents(behind.hostId)).toEqual([]);
    expect(await lostEvents(ahead.hostId)).toEqual([]);
    // The one an hour ahead dies: lost after JANITOR_HOST_LOST_AFTER of silence, not an hour.
    ahead.stopReporting();
    const stoppedAt = Date.now();
    const [lost] = await waitFor(
      "HostLost of the host an hour ahead",
      async () => ((await lostEvents(ahead.hostId)).length ? lostEvents(ahead.hostId) : undefined),
      30_000,
      200,
    );
    expect(Date.parse(lost!.occurredAt) - stoppedAt).toBeLessThan(15_000);
    expect(await lostEvents(behind.hostId)).toEqual([]);
    behind.stopReporting();
  });

  it("states once, on the host's subject, that a VM its host no longer reports vanished, and decides nothing about its job", async () => {
    const h = host("h-van");
    await h.register();
    await runningJob(store, "j-van", "vanvm1", h.hostId);
    await h.startReporting(); // the inventory never lists vanvm1
    const vanished = async () => (await eventsOn(store, subjects.host(h.hostId))).filter((e) => e.type === "VmVanished");
    const [v] = await waitFor("VmVanished", async () => ((await vanished()).length ? await vanished() : undefined), 30_000, 200);
    expect(v!.data).toEqual({
      hostId: "h-van",
      vmId: "vanvm1",
      jobId: "j-van",
      reason: expect.stringMatching(/^vanished: host h-van does not report VM vanvm1/),
    });
    expect(v!.correlationId).toBe("req-j-van");
    const ticks = await janitor.metric("janitor_tick_seconds_count");
    await waitFor("three more ticks", async () => (await janitor.metric("janitor_tick_seconds_count")) >= ticks + 3, 20_000, 200);
    expect(await vanished()).toHaveLength(1);
    expect(await janitor.metric("janitor_vms_vanished_total")).toBe(1);
    // The job's subject is the scheduler's: the janitor wrote nothing there.
    expect((await eventsOn(store, subjects.job("j-van"))).map((e) => e.type)).toEqual(["JobQueued"]);
  });

  it("keeps the VM that runs another job when the job it was booted for completes, and reclaims it when its running job does", async () => {
    const h = host("h-swap");
    await h.register();
    const spec = { arch: "amd64" as const, vcpus: 1, memMiB: 256, diskGiB: 1, image: "minimal", timeoutSec: 600 };
    const source = (id: string) => ({ provider: "github" as const, repo: "o/r", org: "o", providerJobId: id, labels: ["oneshot"] });
    const timings = { diskMs: 1, configMs: 1, netMs: 1, vmmStartMs: 1, agentReadyMs: 1, totalMs: 5 };
    for (const [jobId, vmId] of [
      ["gh-swapa", "swapvma"],
      ["gh-swapb", "swapvmb"],
    ] as const) {
      const c = { correlationId: `req-${jobId}` };
      await store.append({ type: "JobQueued", data: { jobId, source: source(jobId), spec } }, c);
      await store.append({ type: "JobScheduled", data: { jobId, hostId: h.hostId, vmId, spec, attempt: 0 } }, c);
      await store.append({ type: "VmBootRequested", data: { jobId, hostId: h.hostId, vmId, tap: `os-${vmId}`, disks: [] } }, c);
      await store.append({ type: "VmBooted", data: { jobId, hostId: h.hostId, vmId, vmm: "qemu", accel: "tcg", pid: 4242, timings } }, c);
      addTo(h.inv, vmResources(vmId));
    }
    // GitHub gave A to B's runner and B to A's.
    await store.append(
      { type: "JobStarted", data: { jobId: "gh-swapa", runnerName: `oneshot-${h.hostId}-swapvmb`, vmId: "swapvmb", reportedBy: "webhook" } },
      { correlationId: "req-gh-swapa" },
    );
    await store.append(
      { type: "JobStarted", data: { jobId: "gh-swapb", runnerName: `oneshot-${h.hostId}-swapvma`, vmId: "swapvma", reportedBy: "webhook" } },
      { correlationId: "req-gh-swapb" },
    );
    await store.append(
      { type: "JobCompleted", data: { jobId: "gh-swapa", conclusion: "success", exitCode: null, reportedBy: "provider" } },
      { correlationId: "req-gh-swapa" },
    );
    await h.startReporting();
    const forB = await waitFor(
      "reclaim of swapvmb",
      async () => (await reclaimsOn(store, h.hostId)).find((r) => r.data.resources.some((x) => x.vmId === "swapvmb")),
      30_000,
      200,
    );
    expect(forB.data.reason).toMatch(/^job-completed: job gh-swapa completed/);
    const ticks = await janitor.metric("janitor_tick_seconds_count");
    await waitFor("three more ticks", async () => (await janitor.metric("janitor_tick_seconds_count")) >= ticks + 3, 20_000, 200);
    expect((await reclaimsOn(store, h.hostId)).filter((r) => r.data.resources.some((x) => x.vmId === "swapvma"))).toEqual([]);
    expect(h.inv.vms.map((v) => v.vmId)).toEqual(["swapvma"]); // B still runs

    await store.append(
      { type: "JobCompleted", data: { jobId: "gh-swapb", conclusion: "success", exitCode: null, reportedBy: "provider" } },
      { correlationId: "req-gh-swapb" },
    );
    const forA = await waitFor(
      "reclaim of swapvma",
      async () => (await reclaimsOn(store, h.hostId)).find((r) => r.data.resources.some((x) => x.vmId === "swapvma")),
      30_000,
      200,
    );
    expect(forA.data.reason).toMatch(/^job-completed: job gh-swapb completed/);
  });

  it("escalates a reclaim that hostd answered but that did not take, and asks again", async () => {
    const h = host("h-stuck");
    h.reclaimMode = "keep";
    await h.register();
    h.inv.taps.push("os-stuck1");
    await h.startReporting();
    await waitFor("stuck metric", async () => (await janitor.metric("janitor_reclaim_stuck_total", { why: "still-present", kind: "tap" })) >= 1, 30_000, 200);
    await waitFor("a second request", async () => (await reclaimsOn(store, h.hostId)).length >= 2, 30_000, 200);
    const ids = new Set((await reclaimsOn(store, h.hostId)).map((r) => r.data.reclaimId));
    expect(ids.size).toBeGreaterThanOrEqual(2);
    expect(janitor.output()).toMatch(/"why":"still-present".*"msg":"reclaim did not take"/);
  });

  it("escalates a reclaim that hostd never answers, without asking again", async () => {
    const h = host("h-silent");
    h.reclaimMode = "silent";
    await h.register();
    h.inv.taps.push("os-silent1");
    await h.startReporting();
    await waitFor("no-answer metric", async () => (await janitor.metric("janitor_reclaim_stuck_total", { why: "no-answer", kind: "tap" })) >= 1, 30_000, 200);
    expect(await reclaimsOn(store, h.hostId)).toHaveLength(1);
  });
});

describe.skipIf(skip)("two janitors", () => {
  let server: TestNats;
  let nats: Nats;
  let store: EventStore;
  let close: () => Promise<void>;
  const procs: JanitorProc[] = [];
  let h: FakeHost;

  beforeAll(async () => {
    server = await startNats();
    ({ nats, store, close } = await connectTest(server.url));
  });
  afterAll(async () => {
    await h?.close();
    for (const p of procs) await p.stop();
    await close?.();
    await server?.dispose();
  });

  it("only the lease holder acts; after kill -9 of the leader, the standby takes over", async () => {
    const a = await startJanitorProcess(server.url, { JANITOR_INSTANCE_ID: "janitor-a" });
    procs.push(a);
    await waitFor("a leads", async () => (await a.metric("janitor_is_leader")) === 1, 10_000);
    const b = await startJanitorProcess(server.url, { JANITOR_INSTANCE_ID: "janitor-b" });
    procs.push(b);
    expect(b.output()).toMatch(/"role":"janitor".*"msg":"another instance holds the lease: standing by"/);

    h = new FakeHost(nats, store, "h-two");
    await h.register();
    h.inv.taps.push("os-before1");
    await h.startReporting();
    await waitFor("reclaim of os-before1", async () => (await reclaimsOn(store, h.hostId)).some((r) => names(r).includes("tap:os-before1")), 30_000, 200);
    const bTicks = await b.metric("janitor_tick_seconds_count");
    await waitFor("b judged more inventories", async () => (await b.metric("janitor_tick_seconds_count")) >= bTicks + 3, 20_000, 200);
    expect(await a.metric("janitor_appends_total")).toBeGreaterThan(0);
    expect(await b.metric("janitor_appends_total")).toBe(0);
    expect(await b.metric("janitor_is_leader")).toBe(0);
    expect((await b.metric("janitor_leaks_in_grace")) + (await b.metric("janitor_tick_seconds_count"))).toBeGreaterThan(0); // warm: b computes, silently

    const killed = performance.now();
    await a.kill9();
    await waitFor("b takes over", async () => (await b.metric("janitor_is_leader")) === 1, 30_000, 200);
    console.log(`FIGURE kill -9 of the leader → standby leads: ${((performance.now() - killed) / 1000).toFixed(1)} s (JANITOR_LEASE_TTL=3s)`);
    h.inv.taps.push("os-after1");
    const after = await waitFor(
      "reclaim of os-after1",
      async () => (await reclaimsOn(store, h.hostId)).find((r) => names(r).includes("tap:os-after1")),
      30_000,
      200,
    );
    expect(after.data.reason).toMatch(/^unknown-vm/);
    expect(await b.metric("janitor_appends_total", { type: "ReclaimRequested", outcome: "stored" })).toBeGreaterThan(0);
    expect(b.output()).toMatch(/"role":"janitor".*"msg":"took the lease: acting"/);
    await expectNoJobDecisions(b);
  });
  it("a leader frozen (SIGSTOP) past its lease does not act when it resumes: the standby took over", async () => {
    for (const p of procs.splice(0)) await p.stop(); // the previous test's janitors: only these two compete
    const a = await startJanitorProcess(server.url, { JANITOR_INSTANCE_ID: "janitor-f1" });
    procs.push(a);
    const b = await startJanitorProcess(server.url, { JANITOR_INSTANCE_ID: "janitor-f2" });
    procs.push(b);
    const [leader, standby] = await waitFor(
      "one of them leads",
      async () => {
        if ((await a.metric("janitor_is_leader")) === 1) return [a, b] as const;
        if ((await b.metric("janitor_is_leader")) === 1) return [b, a] as const;
        return undefined;
      },
      30_000,
      200,
    );
    const host = new FakeHost(nats, store, "h-frozen");
    await host.register();
    await host.startReporting();
    leader.proc.kill("SIGSTOP");
    const frozenAt = performance.now();
    await waitFor("the standby takes over", async () => (await standby.metric("janitor_is_leader")) === 1, 30_000, 200);
    console.log(`FIGURE SIGSTOP of the leader → standby leads: ${((performance.now() - frozenAt) / 1000).toFixed(1)} s (JANITOR_LEASE_TTL=3s)`);
    // Work appears while the old leader is frozen; then it resumes with its timers due at once.
    host.inv.taps.push("os-frozen1");
    leader.proc.kill("SIGCONT");
    await waitFor("reclaim of os-frozen1", async () => (await reclaimsOn(store, host.hostId)).find((r) => names(r).includes("tap:os-frozen1")), 30_000, 200);
    const reclaims = (await reclaimsOn(store, host.hostId)).filter((r) => names(r).includes("tap:os-frozen1"));
    expect(reclaims).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await leader.metric("janitor_is_leader")).toBe(0);
    expect(await leader.metric("janitor_appends_total", { type: "ReclaimRequested", outcome: "stored" })).toBe(0);
    expect(leader.output()).toMatch(/lost the lease|lease lapsed/);
    await host.close();
  });
});
