import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { subjects, vmIdFor, type DomainEvent, type EventOf, type Stored } from "@oneshot/proto";
import { publishMessage } from "@oneshot/runtime";
import { missing } from "@oneshot/testing";
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from "vitest";
import { Stack, missingStack, untilGone } from "./e2e-stack.test-kit.js";

// Fencing, liveness and placement failures with real processes (docs/fencing.md): nats-server,
// the built scheduler, janitor and hostd, QEMU guests under TCG. A frozen hostd (SIGSTOP) is
// declared lost while its guest still runs; its job must not run anywhere else until that
// guest is known stopped: by hostd's own fence once it is resumed, or by its lease (the watchdog
// process kills the guest while hostd is still frozen). A host's clock never decides whether it
// is alive. A placement its host cannot write (a full disk) or never claims frees its capacity.
const skip = missing("root", "qemu-x86", "nft", "nats") ?? missingStack();

const JANITOR = {
  JANITOR_INTERVAL: "1",
  JANITOR_GRACE: "20",
  JANITOR_DESTROY_GRACE: "5",
  JANITOR_LEASE_TTL: "3",
  JANITOR_HOST_LOST_AFTER: "6",
  JANITOR_FENCE_WAIT: "20",
  JANITOR_PLACEMENT_TIMEOUT: "8",
};
const HOSTD = { HOSTD_HEARTBEAT_INTERVAL: "1", HOSTD_INVENTORY_INTERVAL: "5", HOSTD_BOOT_TIMEOUT: "180", HOSTD_MAX_VCPUS: "1", HOSTD_MAX_MEM_MIB: "512" };
const figure = (name: string, ms: number, extra = "") => console.log(`FIGURE ${name}: ${(ms / 1000).toFixed(1)} s${extra}`);

describe.skipIf(skip)("fencing and placement failures (real hostd, scheduler, janitor, QEMU)", () => {
  const s = new Stack();
  const mounts: string[] = [];

  /** A local job only hosts labelled `group` can take. */
  const queue = async (script: string, group: string): Promise<string> => {
    const jobId = `loc-${randomBytes(6).toString("hex")}`;
    await s.store.append(
      {
        type: "JobQueued",
        data: {
          jobId,
          source: { provider: "local", repo: "local", org: "local", providerJobId: jobId, labels: [group] },
          script,
          spec: { arch: "amd64", vcpus: 1, memMiB: 256, diskGiB: 1, image: "minimal", timeoutSec: 600 },
        },
      },
      { correlationId: `e2e-${jobId}`, msgId: `q:${jobId}` },
    );
    return jobId;
  };
  const jobEvents = (jobId: string) => s.events.filter((e) => "jobId" in e.data && (e.data as { jobId: string }).jobId === jobId);
  const vmmRuns = (vmId: string) => s.leftovers(vmId).some((l) => l.startsWith("process"));
  const seqOf = (e: Stored<DomainEvent> | undefined) => e?.seq ?? Number.POSITIVE_INFINITY;

  beforeAll(async () => {
    await s.start();
    await s.service("scheduler", "scheduler", "SCHEDULER_HTTP_PORT", {});
    await s.service("janitor", "janitor", "JANITOR_HTTP_PORT", JANITOR);
  });
  beforeEach(() => {
    onTestFailed(() => {
      const shown = s.events.filter((e) => !["VmBootRequested"].includes(e.type)).slice(-80);
      console.log(`DIAG events:\n${shown.map((e) => `${e.seq} ${e.type} ${JSON.stringify(e.data).slice(0, 300)}`).join("\n")}`);
      for (const [name, p] of s.procs)
        console.log(
          `DIAG ${name} log tail:\n${p
            .logs()
            .split("\n")
            .filter((l) => /fence|lost|lease|expired|error|warn/i.test(l))
            .slice(-30)
            .join("\n")}`,
        );
    });
  });
  afterAll(async () => {
    for (const name of [...s.procs.keys()].filter((n) => n.startsWith("hostd"))) {
      await s.signal(name, "SIGCONT");
      await s.signal(name, "SIGTERM");
    }
    for (const m of mounts) spawnSync("umount", ["-l", m], { stdio: "ignore" });
    await s.stop();
  });

  it("a hostd frozen until it is declared lost: its job waits; resumed, it kills its VM (HostFenced) before registering again, and only then does the job run elsewhere", async () => {
    const a = await s.hostd("a", { ...HOSTD, HOSTD_LABELS: "grp-a", HOSTD_FENCE_AFTER: "60" });
    const job = await queue("sleep 600", "grp-a");
    const vm0 = vmIdFor(job, 0);
    await s.waitEvent("VmBooted", (d) => d.vmId === vm0 && d.hostId === a.hostId);
    const b = await s.hostd("b", { ...HOSTD, HOSTD_LABELS: "grp-a", HOSTD_FENCE_AFTER: "60" });

    const before = s.lastSeq();
    const frozen = performance.now();
    await s.signal("hostd-a", "SIGSTOP");
    const lost = await s.waitEvent("HostLost", (d) => d.hostId === a.hostId, 60_000, before);
    figure("hostd frozen → HostLost", performance.now() - frozen, " (JANITOR_HOST_LOST_AFTER=6s)");
    // The attacker's window: the guest still runs on the frozen host. Nothing may move yet.
    await new Promise((r) => setTimeout(r, 4_000));
    expect(vmmRuns(vm0)).toBe(true);
    expect(jobEvents(job).filter((e) => e.seq > lost.seq && (e.type === "JobRequeued" || e.type === "JobScheduled"))).toEqual([]);

    const thawed = performance.now();
    await s.signal("hostd-a", "SIGCONT");
    const fenced = await s.waitEvent("HostFenced", (d) => d.hostId === a.hostId && d.trigger === "host-lost", 60_000, lost.seq);
    // HostFenced is stored only once no VMM of the host's VMs is left.
    expect(vmmRuns(vm0)).toBe(false);
    expect(fenced.data).toMatchObject({ lostSeq: lost.seq, vmsStopped: [vm0] });
    figure("SIGCONT → HostFenced", performance.now() - thawed);
    const again = await s.waitEvent("HostRegistered", (d) => d.hostId === a.hostId, 60_000, lost.seq);
    expect(again.seq).toBeGreaterThan(fenced.seq);

    const requeued = await s.waitEvent("JobRequeued", (d) => d.jobId === job, 60_000, lost.seq);
    const gone = s.find("VmDestroyed", (d) => d.vmId === vm0, lost.seq);
    // Requeued on a fact that the old VM is gone (its own VmDestroyed, or the host's fence), never on HostLost alone.
    expect(requeued.seq).toBeGreaterThan(Math.min(seqOf(gone), fenced.seq));
    expect(requeued.data.reason).toMatch(/^host lost \(no heartbeat for \d+s/);
    const vm1 = vmIdFor(job, 1);
    const placed = await s.waitEvent("JobScheduled", (d) => d.jobId === job && d.attempt === 1, 60_000);
    await s.waitEvent("VmBooted", (d) => d.vmId === vm1, 180_000);
    expect([a.hostId, b.hostId]).toContain(placed.data.hostId);
    expect(vmmRuns(vm0)).toBe(false);
    // Never a JobCompleted from the killed guest's exit: the job did not fail, its host did.
    expect(jobEvents(job).filter((e) => e.type === "JobCompleted" || e.type === "JobFailed")).toEqual([]);
    await s.store.append({ type: "JobCancelled", data: { jobId: job, reason: "e2e: done" } }, { correlationId: `e2e-${job}` });
    await untilGone("the job's second VM", () => s.leftovers(vm1), 120_000);
    await s.signal("hostd-a", "SIGTERM");
    await s.signal("hostd-b", "SIGTERM");
  });

  it("a hostd frozen past its lease: its watchdog kills the guest while hostd is still frozen, the janitor states HostLeaseExpired, and only then is the job requeued", async () => {
    const c = await s.hostd("c", { ...HOSTD, HOSTD_LABELS: "grp-c", HOSTD_FENCE_AFTER: "5" });
    const job = await queue("sleep 600", "grp-c");
    const vm0 = vmIdFor(job, 0);
    await s.waitEvent("VmBooted", (d) => d.vmId === vm0 && d.hostId === c.hostId);
    await s.hostd("d", { ...HOSTD, HOSTD_LABELS: "grp-c", HOSTD_FENCE_AFTER: "60" });

    const before = s.lastSeq();
    const frozen = performance.now();
    await s.signal("hostd-c", "SIGSTOP");
    const killedAt = await untilGone("the frozen host's guest (killed by its fence watchdog)", () => (vmmRuns(vm0) ? ["VMM running"] : []), 60_000);
    figure("hostd frozen → its guest killed by the watchdog", killedAt - frozen, " (HOSTD_FENCE_AFTER=5s)");
    const lost = await s.waitEvent("HostLost", (d) => d.hostId === c.hostId, 60_000, before);
    const lostSeen = performance.now();
    // The guest died before the host was even declared lost: the lease is shorter than the silence.
    expect(killedAt).toBeLessThan(lostSeen);
    const expired = await s.waitEvent("HostLeaseExpired", (d) => d.hostId === c.hostId && d.lostSeq === lost.seq, 60_000, lost.seq);
    figure("HostLost → HostLeaseExpired", performance.now() - lostSeen, " (JANITOR_FENCE_WAIT=20s)");
    const requeued = await s.waitEvent("JobRequeued", (d) => d.jobId === job, 60_000, lost.seq);
    expect(requeued.seq).toBeGreaterThan(expired.seq);
    expect(requeued.data.reason).toMatch(/its lease ran out$/);
    const vm1 = vmIdFor(job, 1);
    await s.waitEvent("VmBooted", (d) => d.vmId === vm1, 180_000);
    // hostd-c is still frozen: the guest died by the watchdog, not by hostd.
    expect(s.procs.get("hostd-c")!.proc.exitCode).toBeNull();

    await s.signal("hostd-c", "SIGCONT");
    const fence = await s.waitEvent("HostFenced", (d) => d.hostId === c.hostId && d.trigger === "host-lost", 60_000, expired.seq);
    const again = await s.waitEvent("HostRegistered", (d) => d.hostId === c.hostId, 60_000, fence.seq - 1);
    expect(again.seq).toBeGreaterThan(fence.seq);
    await s.waitEvent("VmDestroyed", (d) => d.vmId === vm0, 60_000);
    expect(s.leftovers(vm0)).toEqual([]);
    await s.store.append({ type: "JobCancelled", data: { jobId: job, reason: "e2e: done" } }, { correlationId: `e2e-${job}` });
    await untilGone("the job's second VM", () => s.leftovers(vm1), 120_000);
    await s.signal("hostd-c", "SIGTERM");
    await s.signal("hostd-d", "SIGTERM");
  });

  it("a hostd whose clock is an hour behind (libfaketime) heartbeats and is never declared lost while alive", async (ctx) => {
    const lib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
    if (spawnSync("test", ["-e", lib]).status !== 0) {
      process.stderr.write(`SKIP (faketime): ${lib} missing (apt-get install faketime)\n`);
      ctx.skip();
    }
    const before = s.lastSeq();
    const since = Date.now();
    const k = await s.hostd("k", {
      ...HOSTD,
      HOSTD_LABELS: "grp-k",
      LD_PRELOAD: lib,
      FAKETIME: "-1h",
      FAKETIME_DONT_FAKE_MONOTONIC: "1",
      FAKETIME_ONLY_CMDS: "node",
    });
    const reg = await s.waitEvent("HostRegistered", (d) => d.hostId === k.hostId, 60_000, before);
    // The skew is real: hostd stamps its own events an hour back.
    expect(since - Date.parse(reg.occurredAt)).toBeGreaterThan(3_500_000);
    // Five times JANITOR_HOST_LOST_AFTER, with a job running on it.
    const job = await queue("sleep 600", "grp-k");
    await s.waitEvent("VmBooted", (d) => d.vmId === vmIdFor(job, 0), 180_000);
    await new Promise((r) => setTimeout(r, 30_000));
    expect(s.find("HostLost", (d) => d.hostId === k.hostId, before)).toBeUndefined();
    expect(s.find("HostFenced", (d) => d.hostId === k.hostId, before)).toBeUndefined();
    await s.store.append({ type: "JobCancelled", data: { jobId: job, reason: "e2e: done" } }, { correlationId: `e2e-${job}` });
    await untilGone("the skewed host's VM", () => s.leftovers(vmIdFor(job, 0)), 240_000); // a JobCancelled VM under TCG on a busy machine
    await s.signal("hostd-k", "SIGTERM");
  }, 480_000);

  it("a full disk (a 16 MiB tmpfs as hostd's state dir, filled up) ends each placement in VmBootFailed with ENOSPC, frees its capacity, and the job fails after SCHEDULER_MAX_ATTEMPTS; with room again the host runs jobs", async () => {
    const disk = join(s.state, "disk-e");
    mkdirSync(disk, { recursive: true });
    expect(spawnSync("mount", ["-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", disk]).status).toBe(0);
    mounts.push(disk);
    const e = await s.hostd("e", { ...HOSTD, HOSTD_LABELS: "grp-e", ONESHOT_STATE_DIR: disk, HOSTD_MAX_DISK_GIB: "20" });
    // Fill it: big blocks, then pages, until the file system says no.
    for (const [i, bs] of ["1M", "4k"].entries()) spawnSync("dd", ["if=/dev/zero", `of=${join(disk, `filler-${i}`)}`, `bs=${bs}`], { stdio: "ignore" });
    const job = await queue("echo never", "grp-e");
    const failed = await s.waitEvent("JobFailed", (d) => d.jobId === job, 120_000);
    const boots = s.events.filter((x): x is Stored<EventOf<"VmBootFailed">> => x.type === "VmBootFailed" && x.data.jobId === job);
    expect(boots.map((x) => x.data.code)).toEqual(["placement-failed", "placement-failed", "placement-failed"]);
    for (const x of boots) expect(x.data.reason).toMatch(/^ENOSPC: /);
    // Every attempt was placed on the one host, which holds exactly one such job: each failed
    // placement freed its capacity (VmDestroyed), or the next could not have been placed.
    const placed = s.events.filter((x): x is Stored<EventOf<"JobScheduled">> => x.type === "JobScheduled" && x.data.jobId === job);
    expect(placed.map((x) => [x.data.attempt, x.data.hostId])).toEqual([
      [0, e.hostId],
      [1, e.hostId],
      [2, e.hostId],
    ]);
    for (const p of placed) expect(s.find("VmDestroyed", (d) => d.vmId === p.data.vmId)).toBeDefined();
    expect(failed.data.reason).toMatch(/^boot failed 3 times; last on .*: placement-failed: ENOSPC/);
    // Room again: the same host takes and runs the next job.
    for (const i of [0, 1]) rmSync(join(disk, `filler-${i}`), { force: true });
    const next = await queue("echo fine", "grp-e");
    const exited = await s.waitEvent("VmExited", (d) => d.jobId === next, 180_000);
    expect(exited.data).toMatchObject({ exitCode: 0, reason: "exited" });
    await s.signal("hostd-e", "SIGTERM");
    spawnSync("umount", [disk], { stdio: "ignore" });
  });

  it("a placement addressed to a host that never answers expires (PlacementExpired), its capacity frees, and the job fails after SCHEDULER_MAX_ATTEMPTS", async () => {
    const ghost = `e2e-ghost-${s.suffix}`;
    await s.store.append(
      {
        type: "HostRegistered",
        data: {
          hostId: ghost,
          arch: "amd64",
          capacity: { vcpus: 1, memMiB: 256, diskGiB: 1 },
          labels: ["grp-ghost"],
          vmm: "qemu",
          accel: "tcg",
          emulated: false,
          images: ["minimal"],
          publicKey: "AAAA",
          version: "ghost",
        },
      },
      { correlationId: `e2e-${ghost}` },
    );
    // It heartbeats (so it is not lost) and never reads its work.
    const beat = setInterval(
      () =>
        void publishMessage(
          s.nats,
          subjects.heartbeat(ghost),
          {
            type: "HostHeartbeat",
            data: {
              hostId: ghost,
              runningVms: 0,
              used: { vcpus: 0, memMiB: 0, diskGiB: 0 },
              capacity: { vcpus: 1, memMiB: 256, diskGiB: 1 },
              accel: "tcg",
              draining: false,
              uptimeSec: 1,
            },
          },
          ghost,
        ).catch(() => undefined),
      1_000,
    );
    try {
      const job = await queue("echo never", "grp-ghost");
      const failed = await s.waitEvent("JobFailed", (d) => d.jobId === job, 120_000);
      const expired = s.events.filter((x): x is Stored<EventOf<"PlacementExpired">> => x.type === "PlacementExpired" && x.data.jobId === job);
      expect(expired.map((x) => [x.data.attempt, x.data.hostId])).toEqual([
        [0, ghost],
        [1, ghost],
        [2, ghost],
      ]);
      for (const x of expired) expect(x.data.waitedSec).toBeGreaterThanOrEqual(8);
      // The ghost holds one such job at a time: attempt n+1 was placed there only because attempt n's expiry freed it.
      const placed = s.events.filter((x): x is Stored<EventOf<"JobScheduled">> => x.type === "JobScheduled" && x.data.jobId === job);
      expect(placed.map((x) => x.data.hostId)).toEqual([ghost, ghost, ghost]);
      for (let i = 1; i < placed.length; i++) expect(placed[i]!.seq).toBeGreaterThan(expired[i - 1]!.seq);
      expect(failed.data.reason).toMatch(/^boot failed 3 times; last on .*: placement-expired: no VmBootRequested/);
      expect(s.find("HostLost", (d) => d.hostId === ghost)).toBeUndefined();
    } finally {
      clearInterval(beat);
    }
  });
});
