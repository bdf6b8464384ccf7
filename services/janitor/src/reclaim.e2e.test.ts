import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { vmIdFor } from "@oneshot/proto";
import { missing } from "@oneshot/testing";
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from "vitest";
import { Stack, missingStack, untilGone } from "./e2e-stack.test-kit.js";

// The janitor's proof with real processes: nats-server, scheduler, janitor and hostd as built,
// QEMU guests under TCG, real taps, nft rules and files. Figures are printed (FIGURE lines)
// and go to the README; no assertion depends on how fast anything was.
const skip = missing("root", "qemu-x86", "nft", "nats") ?? missingStack();

const INVENTORY_S = 5;
const JANITOR = {
  JANITOR_INTERVAL: "1",
  JANITOR_GRACE: "20",
  JANITOR_DESTROY_GRACE: "5",
  JANITOR_HOST_LOST_AFTER: "15",
  JANITOR_LEASE_TTL: "3",
};
// docs/fencing.md: JANITOR_HOST_LOST_AFTER (15) + JANITOR_FENCE_WAIT (default 30) > HOSTD_FENCE_AFTER (20) + kill time.
const HOSTD = { HOSTD_HEARTBEAT_INTERVAL: "1", HOSTD_INVENTORY_INTERVAL: String(INVENTORY_S), HOSTD_BOOT_TIMEOUT: "180", HOSTD_FENCE_AFTER: "20" };
const figure = (name: string, ms: number, extra = "") => console.log(`FIGURE ${name}: ${(ms / 1000).toFixed(1)} s${extra}`);
const rand = () =>
  randomBytes(8)
    .toString("hex")
    .replace(/[^a-z0-9]/g, "")
    .slice(0, 10);

describe.skipIf(skip)("reclaim with real hostd, QEMU guests, taps and nft rules", () => {
  const s = new Stack();
  let a: { hostId: string };
  const strays: ChildProcess[] = [];
  const foreignDirs: string[] = [];
  const plantedTaps: string[] = [];

  beforeAll(async () => {
    await s.start();
    await s.service("scheduler", "scheduler", "SCHEDULER_HTTP_PORT", {});
    await s.service("janitor", "janitor", "JANITOR_HTTP_PORT", JANITOR);
    a = await s.hostd("a", HOSTD);
  });
  beforeEach(() => {
    onTestFailed(() => {
      const janitorEvents = s.events.filter((e) =>
        ["ReclaimRequested", "ResourceReclaimed", "HostLost", "HostRegistered", "JobRequeued", "JobFailed"].includes(e.type),
      );
      console.log(`DIAG events:\n${janitorEvents.map((e) => `${e.seq} ${e.type} ${JSON.stringify(e.data).slice(0, 400)}`).join("\n")}`);
      for (const [name, p] of s.procs)
        console.log(
          `DIAG ${name} log tail:\n${p
            .logs()
            .split("\n")
            .filter((l) => /reclaim|leak|lost|error|warn/i.test(l))
            .slice(-40)
            .join("\n")}`,
        );
    });
  });
  afterAll(async () => {
    for (const p of strays) p.kill("SIGKILL");
    await s.stop();
    for (const d of foreignDirs) rmSync(d, { recursive: true, force: true });
    for (const t of plantedTaps) spawnSync("ip", ["link", "del", t], { stdio: "ignore" }); // only if a failed test left them
  });

  it("hostd SIGKILLed while one VM runs and another boots: after its restart nothing of either is left, and the events say why", async () => {
    const j1 = await s.queue("sleep 600");
    const vm1 = vmIdFor(j1, 0);
    await s.waitEvent("VmBooted", (d) => d.vmId === vm1);
    const j2 = await s.queue("sleep 600");
    const vm2 = vmIdFor(j2, 0);
    await s.waitEvent("JobScheduled", (d) => d.vmId === vm2);
    // Kill hostd while vm2's VMM runs but the guest has not reported ready.
    await untilGone(`vm2's VMM to start`, () => (s.leftovers(vm2).some((l) => l.startsWith("process")) ? [] : ["no process yet"]), 120_000);
    await s.signal("hostd-a", "SIGKILL");
    expect(s.find("VmBooted", (d) => d.vmId === vm2)).toBeUndefined();
    expect(s.leftovers(vm1).some((l) => l.startsWith("process"))).toBe(true); // the guests outlive their hostd
    expect(s.leftovers(vm2).some((l) => l.startsWith("process"))).toBe(true);

    const restarted = performance.now();
    await s.hostd("a", HOSTD);
    const gone = await untilGone("vm1 and vm2 leftovers", () => [...s.leftovers(vm1), ...s.leftovers(vm2)], 180_000);
    figure("hostd restart → every VMM, tap, nft rule and file of the dead jobs gone", gone - restarted, ` (HOSTD_INVENTORY_INTERVAL=${INVENTORY_S}s)`);

    const exited = await s.waitEvent("VmExited", (d) => d.vmId === vm1, 30_000);
    expect(exited.data.reason).toBe("killed");
    await s.waitEvent("VmDestroyed", (d) => d.vmId === vm1, 30_000);
    const failed = await s.waitEvent("VmBootFailed", (d) => d.vmId === vm2, 30_000);
    expect(failed.data.code).toBe("hostd-restart");
    await s.waitEvent("VmDestroyed", (d) => d.vmId === vm2, 30_000);
    // What the rest of the system made of it: j1 ended, j2 placed again.
    await s.waitEvent("JobCompleted", (d) => d.jobId === j1, 60_000);
    await s.waitEvent("JobRequeued", (d) => d.jobId === j2, 60_000);
    // j2's next attempt is running `sleep 600`; cancelling the job is the janitor's cue to reap it.
    const vm2b = vmIdFor(j2, 1);
    await s.waitEvent("VmBooted", (d) => d.vmId === vm2b);
    const cancelled = performance.now();
    await s.store.append({ type: "JobCancelled", data: { jobId: j2, reason: "e2e: done with it" } }, { correlationId: `e2e-${j2}` });
    const req = await s.waitEvent("ReclaimRequested", (d) => d.resources.some((r) => r.vmId === vm2b), 120_000);
    expect(req.data.reason).toMatch(/^job-cancelled: /);
    const reaped = await untilGone("the cancelled job's VM", () => s.leftovers(vm2b), 120_000);
    figure("JobCancelled → the running VM gone (janitor: destroy grace 5s)", reaped - cancelled);
  });

  it("leftovers planted by hand are reclaimed; what is not named like ours is never touched", async () => {
    const vms = join(s.state, "hostd", "vms");
    const tapId = rand();
    const diskId = rand();
    const procId = rand();
    // Ours by name: a tap, an orphan disk in a run dir, a stray VMM process.
    const planted = performance.now();
    plantedTaps.push(`os-${tapId}`);
    run("ip", ["tuntap", "add", "dev", `os-${tapId}`, "mode", "tap"]);
    mkdirSync(join(vms, diskId), { recursive: true });
    run("qemu-img", ["create", "-q", "-f", "qcow2", join(vms, diskId, "root.qcow2"), "64M"]);
    strays.push(stray(`oneshot-${procId}`));
    // Not ours: a tap, a VMM process and disks named otherwise.
    const foreignTap = `ost${s.suffix}x`;
    plantedTaps.push(foreignTap);
    run("ip", ["tuntap", "add", "dev", foreignTap, "mode", "tap"]);
    const foreignProc = stray(`notoneshot-${procId}`);
    strays.push(foreignProc);
    const foreignDisk = join(s.state, "hostd", "keep", "root.qcow2");
    mkdirSync(join(s.state, "hostd", "keep"), { recursive: true });
    run("qemu-img", ["create", "-q", "-f", "qcow2", foreignDisk, "64M"]);
    const outside = mkdtempSync(join(tmpdir(), "oneshot-janitor-foreign-"));
    foreignDirs.push(outside);
    run("qemu-img", ["create", "-q", "-f", "qcow2", join(outside, "root.qcow2"), "64M"]);
    const upper = join(vms, `Keep${s.suffix}`);
    mkdirSync(upper, { recursive: true });
    run("qemu-img", ["create", "-q", "-f", "qcow2", join(upper, "root.qcow2"), "64M"]);

    const times = await Promise.all([
      untilGone("planted tap", () => s.leftovers(tapId), 180_000),
      untilGone("planted disk", () => s.leftovers(diskId), 180_000),
      untilGone("stray VMM", () => s.leftovers(procId), 180_000),
    ]);
    figure("planted tap → gone", times[0] - planted, " (JANITOR_GRACE=20s)");
    figure("planted orphan disk → gone", times[1] - planted, " (JANITOR_GRACE=20s)");
    figure("stray VMM process → gone", times[2] - planted, " (JANITOR_GRACE=20s)");
    for (const id of [tapId, diskId, procId]) {
      const r = s.find("ReclaimRequested", (d) => d.resources.some((x) => x.vmId === id));
      expect(r?.data.reason).toMatch(/^unknown-vm: /);
      // hostd answers once every resource of the request is done: the answer may trail the removal.
      const answer = await s.waitEvent("ResourceReclaimed", (d) => d.reclaimId === r!.data.reclaimId, 60_000);
      expect(answer.data.failed).toEqual([]);
    }
    // Two more inventories (and janitor passes over them) later, everything foreign is still there.
    await s.moreInventories(a.hostId, 2);
    expect(spawnSync("ip", ["link", "show", foreignTap], { stdio: "ignore" }).status).toBe(0);
    expect(foreignProc.exitCode).toBeNull();
    expect(foreignProc.signalCode).toBeNull();
    for (const f of [foreignDisk, join(outside, "root.qcow2"), join(upper, "root.qcow2")]) expect(existsSync(f)).toBe(true);
    const named = s.events
      .filter((e) => e.type === "ReclaimRequested")
      .flatMap((e) => (e.data as { resources: { name: string }[] }).resources.map((r) => r.name));
    for (const n of [foreignTap, foreignDisk, upper, join(upper, "root.qcow2"), join(outside, "root.qcow2")]) expect(named).not.toContain(n);
    run("ip", ["link", "del", foreignTap]);
    foreignProc.kill("SIGKILL");
    rmSync(upper, { recursive: true, force: true });
  });

  it("a host whose hostd stops heartbeating is declared lost, its job runs elsewhere once its lease ran out (its watchdog killed the guest), and it fences when it comes back", async () => {
    const j3 = await s.queue("sleep 600");
    const vm3 = vmIdFor(j3, 0);
    await s.waitEvent("VmBooted", (d) => d.vmId === vm3 && d.hostId === a.hostId);
    const b = await s.hostd("b", HOSTD);

    const frozen = performance.now();
    const before = s.lastSeq();
    await s.signal("hostd-a", "SIGSTOP");
    const lost = await s.waitEvent("HostLost", (d) => d.hostId === a.hostId, 120_000, before);
    const lostAt = performance.now();
    figure("hostd frozen → HostLost", lostAt - frozen, " (JANITOR_HOST_LOST_AFTER=15s)");
    expect(lost.data.reason).toMatch(/^no heartbeat for \d+s/);
    await s.waitEvent("JobRequeued", (d) => d.jobId === j3, 60_000);
    const vm3b = vmIdFor(j3, 1);
    await s.waitEvent("VmBooted", (d) => d.vmId === vm3b && d.hostId === b.hostId);
    figure("HostLost → the job's next VM booted on the other host", performance.now() - lostAt);

    // docs/fencing.md: the requeue waited for the lease (HOSTD_FENCE_AFTER 20 s), by when the
    // frozen hostd's watchdog had killed its guest; the guest is gone before the job runs again.
    expect(s.leftovers(vm3).some((l) => l.startsWith("process"))).toBe(false);
    const thawed = performance.now();
    await s.signal("hostd-a", "SIGCONT");
    const fenced = await s.waitEvent("HostFenced", (d) => d.hostId === a.hostId && d.trigger === "host-lost", 120_000, lost.seq);
    expect((await s.waitEvent("HostRegistered", (d) => d.hostId === a.hostId, 60_000, fenced.seq)).seq).toBeGreaterThan(fenced.seq);
    const gone = await untilGone("the lost host's old VM", () => s.leftovers(vm3), 120_000);
    figure("host back → its old VM gone", gone - thawed);
    expect(s.leftovers(vm3b).some((l) => l.startsWith("process"))).toBe(true); // the job's new VM on b runs on

    await s.store.append({ type: "JobCancelled", data: { jobId: j3, reason: "e2e: done with it" } }, { correlationId: `e2e-${j3}` });
    await untilGone("the job's VM on b", () => s.leftovers(vm3b), 120_000);
  });
});

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
}

/** A QEMU process that never boots anything (paused at start), named as given. */
function stray(name: string): ChildProcess {
  return spawn(
    "qemu-system-x86_64",
    ["-name", name, "-M", "microvm", "-accel", "tcg", "-m", "16", "-nodefaults", "-no-user-config", "-display", "none", "-S"],
    {
      stdio: "ignore",
      detached: true,
    },
  );
}
