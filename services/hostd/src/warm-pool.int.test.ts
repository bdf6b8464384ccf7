import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing, waitFor } from "@oneshot/testing";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { DomainEvent, JobSpec, Stored } from "@oneshot/proto";
import { HostdHarness, missingImage } from "./testing/hostd-harness.js";

// Warm pools (docs/warm-pool.md) with the real hostd, NATS and QEMU guests: the test plays the
// scheduler and hands jobs to the warm VMs hostd announces.
const skip = missing("nats", "root", "qemu-x86", "nft") ?? missingImage("amd64");
const T = 400_000;
const shape = { arch: "amd64", vcpus: 1, memMiB: 256, diskGiB: 1, image: "minimal" } as const;

describe.skipIf(skip)("hostd warm pool (real hostd, NATS, QEMU)", () => {
  const h = new HostdHarness({
    HOSTD_MAX_VCPUS: "3",
    HOSTD_MAX_MEM_MIB: "2048",
    HOSTD_MAX_DISK_GIB: "20",
    HOSTD_TIMEOUT_GRACE: "2",
    HOSTD_WARM_POOLS: "minimal/1/256/1=1",
    HOSTD_WARM_MAX_AGE_SEC: "40",
    // The isolation guard would mend a missed policy within its interval: slowed, so only the hand-over can set it.
    HOSTD_ISOLATION_CHECK_INTERVAL: "120",
  });
  beforeAll(() => h.start(), T);
  afterAll(() => h.dispose(), T);

  const warmed = () =>
    h
      .waitEvent("VmWarmed", undefined, 240_000)
      .then(() => h.events.filter((e): e is Stored<Extract<DomainEvent, { type: "VmWarmed" }>> => e.type === "VmWarmed"));
  const handOver = async (vmId: string, script: string, extra: Partial<JobSpec> = {}) => {
    const jobId = `loc-warm-${vmId}`;
    const spec: JobSpec = { ...shape, timeoutSec: 120, ...extra };
    const correlationId = `test-${jobId}`;
    await h.store.append(
      { type: "JobQueued", data: { jobId, source: { provider: "local", repo: "local", org: "local", providerJobId: jobId, labels: [] }, spec, script } },
      { correlationId, msgId: `q:${jobId}` },
    );
    await h.store.append(
      { type: "JobScheduled", data: { jobId, hostId: h.hostId, vmId, spec, attempt: 0, script, start: "warm" } },
      { correlationId, msgId: `sched:${jobId}:0` },
    );
    return jobId;
  };

  it(
    "registers its capacity without the pool's, and boots a warm VM that holds no job",
    async () => {
      const reg = h.events.find((e) => e.type === "HostRegistered")!;
      expect(reg.data).toMatchObject({ capacity: { vcpus: 2, memMiB: 2048 - 256, diskGiB: 19 } });
      const [w] = await warmed();
      expect(w!.data).toMatchObject({ hostId: h.hostId, shape });
      const vmId = w!.data.vmId;
      // Nothing job-specific on the VM: its config drive is its own, its job drive empty.
      const jobDrive = readFileSync(join(h.state, "hostd", "vms", vmId, "job.raw"));
      expect(jobDrive.subarray(0, 26).toString()).toBe("oneshot-job-drive-v1 empty");
      expect(jobDrive.subarray(4096).some((b) => b !== 0)).toBe(false);
      expect(JSON.parse(readFileSync(join(h.state, "hostd", "vms", vmId, "vm.json"), "utf8"))).toMatchObject({ jobId: `warm-${vmId}` });
      // The heartbeat reports the pool (HostHeartbeat v3), not as a job's VM.
      const beat = await waitFor("a heartbeat with the pool ready", () => h.heartbeats.find((b) => b.warmPools?.[0]?.ready === 1), 30_000);
      expect(beat.warmPools).toEqual([{ shape, target: 1, booting: 0, ready: 1, lent: 0, oldestReadySec: expect.any(Number) }]);
      expect(beat.runningVms).toBe(0);
    },
    T,
  );

  it(
    "hands a job to the warm VM: it runs there, cannot see the channel, and the pool refills",
    async () => {
      const [w] = await warmed();
      const vmId = w!.data.vmId;
      const lastSeq = h.events.at(-1)!.seq;
      const jobId = await handOver(
        vmId,
        [
          "echo job=$ONESHOT_JOB_ID vm=$ONESHOT_VM_ID",
          // The job drive is erased and detached before the job starts.
          "for d in /dev/vd*; do head -c 64 $d | grep -q oneshot-job && echo CHANNEL-VISIBLE $d; done; echo CHANNEL-CHECKED",
          "ls /sys/block",
          "exit 7",
          "",
        ].join("\n"),
      );
      const destroyed = await h.waitEvent("VmDestroyed", vmId);
      expect(destroyed.data.jobId).toBe(jobId);
      expect(h.vmEvents(vmId).map((e) => e.type)).toEqual(["VmWarmed", "VmBootRequested", "VmBooted", "VmExited", "VmDestroyed"]);
      const booted = h.vmEvents(vmId).find((e) => e.type === "VmBooted")!.data as { start?: string; handOverMs?: number };
      expect(booted.start).toBe("warm");
      expect(booted.handOverMs).toBeGreaterThan(0);
      expect(h.vmEvents(vmId).find((e) => e.type === "VmExited")!.data).toMatchObject({ exitCode: 7, reason: "exited" });
      await expect.poll(() => h.consoleText(vmId), { timeout: 10_000 }).toContain("CHANNEL-CHECKED");
      const text = h.consoleText(vmId);
      expect(text).toContain(`job=${jobId} vm=${vmId}`);
      expect(text).not.toContain("CHANNEL-VISIBLE");
      // The agent woke on the doorbell (the VMM's config change), not on its slow fallback poll.
      const phases = h.logs.split("\n").find((l) => l.includes('"hand-over phases"') && l.includes(jobId));
      expect(phases, "hostd logs the hand-over's phases").toBeDefined();
      expect((JSON.parse(phases!) as { guestUs?: { doorbell?: number } }).guestUs?.doorbell).toBe(1);
      console.log(JSON.stringify({ test: "warm-hand-over", handOverMs: booted.handOverMs, phases: JSON.parse(phases!) }));
      expect(h.leftovers(vmId)).toEqual([]);
      // Refilled with a new VM, never the used one again.
      await expect
        .poll(() => h.events.some((e) => e.type === "VmWarmed" && e.seq > lastSeq && e.data.vmId !== vmId), { timeout: 240_000, interval: 500 })
        .toBe(true);
    },
    T,
  );

  it(
    "a warm VM (booted open) handed a job with an allow list is in allow mode before the job's first command",
    async () => {
      const unused = () =>
        h.events
          .filter((e) => e.type === "VmWarmed")
          .map((e) => (e.data as { vmId: string }).vmId)
          .find((v) => !h.events.some((e) => (e.type === "WarmVmRetired" || e.type === "VmBootRequested") && (e.data as { vmId: string }).vmId === v));
      const vmId = await waitFor("a ready warm VM", unused, 240_000, 500);
      const address = (JSON.parse(readFileSync(join(h.state, "hostd", "vms", vmId, "vm.json"), "utf8")) as { net: { address: string } }).net.address;
      const openVms = () => spawnSync("nft", ["list", "set", "inet", `oneshot_${h.names.bridge}`, "open_vms"], { encoding: "utf8" }).stdout;
      expect(openVms()).toContain(address); // a pool VM has no job, hence no policy: open
      await handOver(vmId, "echo JOB-STARTED\nsleep 5\n", { egress: { mode: "allow", allow: ["allowed.test"], source: "test:warm" } });
      await expect.poll(() => h.consoleText(vmId), { timeout: 60_000, interval: 100 }).toContain("JOB-STARTED");
      expect(openVms()).not.toContain(address);
      await h.waitEvent("VmDestroyed", vmId);
      expect(h.leftovers(vmId)).toEqual([]);
    },
    T,
  );

  it(
    "a hand-over to a VM that is not ready here fails like a boot (the scheduler places the job again)",
    async () => {
      const jobId = await handOver("wnotready000", "exit 0\n");
      const failed = await h.waitEvent("VmBootFailed", "wnotready000");
      expect(failed.data).toMatchObject({ jobId, code: "warm-vm-gone" });
      await h.waitEvent("VmDestroyed", "wnotready000");
    },
    T,
  );

  it(
    "retires a warm VM past HOSTD_WARM_MAX_AGE_SEC and replaces it",
    async () => {
      const retired = await h.waitEvent("WarmVmRetired", undefined, 240_000);
      expect(retired.data).toMatchObject({ reason: "max-age" });
      expect(h.leftovers(retired.data.vmId)).toEqual([]);
      await expect.poll(() => h.events.some((e) => e.type === "VmWarmed" && e.seq > retired.seq), { timeout: 240_000, interval: 500 }).toBe(true);
    },
    T,
  );

  it(
    "stopping hostd retires the pool (WarmVmRetired, nothing left)",
    async () => {
      const ready = h.events
        .filter((e) => e.type === "VmWarmed")
        .map((e) => (e.data as { vmId: string }).vmId)
        .filter((v) => !h.events.some((e) => (e.type === "WarmVmRetired" || e.type === "VmBootRequested") && (e.data as { vmId: string }).vmId === v));
      expect(ready.length).toBeGreaterThan(0);
      h.expectExit = true;
      expect(await h.stopHostd()).toBe(0);
      for (const vmId of ready) {
        await h.waitEvent("WarmVmRetired", vmId, 30_000);
        expect(h.leftovers(vmId)).toEqual([]);
      }
    },
    T,
  );
});
