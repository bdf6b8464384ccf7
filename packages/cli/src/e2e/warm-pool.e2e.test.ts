import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing, waitFor } from "@oneshot/testing";
import type { EventJson } from "../view/event-line.js";
import { leftovers, startUp, type UpStack } from "./harness.js";

// Warm pools end to end (docs/warm-pool.md): `oneshot up --warm 2`, real QEMU guests, the real
// scheduler handing jobs to warm VMs, `oneshot run` as a user runs it.
const skip = missing("nats", "root", "qemu-x86", "nft");
const T = 600_000;

/** Warm VMs the log holds as ready: warmed, not yet handed a job or retired. */
function readyWarm(events: EventJson[]): string[] {
  const gone = new Set(
    events.flatMap((e) => {
      const d = e.data as { vmId?: string; start?: string };
      return (e.type === "JobScheduled" && d.start === "warm") || e.type === "WarmVmRetired" ? [d.vmId!] : [];
    }),
  );
  return events
    .filter((e) => e.type === "VmWarmed")
    .map((e) => (e.data as { vmId: string }).vmId)
    .filter((v) => !gone.has(v));
}

describe.skipIf(skip)("warm pool end to end (oneshot up --warm 2, real QEMU guests)", () => {
  let stack: UpStack;
  const untilPoolFull = (n = 2) => waitFor(`${n} warm VMs ready`, async () => readyWarm(await stack.events()).length >= n, 300_000, 1_000);
  beforeAll(async () => {
    // Cold work gets 2 vCPUs, the pool two more of its own (HOSTD_MAX_VCPUS is the whole host).
    stack = await startUp({ env: { HOSTD_MAX_VCPUS: "4", HOSTD_MAX_MEM_MIB: "4096", HOSTD_MAX_CONCURRENT_VMS: "4" }, args: ["--warm", "2"] });
    await untilPoolFull();
  }, T);
  afterAll(async () => {
    await stack?.stop();
  }, T);

  it("registers the host's capacity without the pool's", async () => {
    const reg = (await stack.events()).find((e) => e.type === "HostRegistered")!;
    expect(reg.data).toMatchObject({ capacity: { vcpus: 2, memMiB: 4096 - 2 * 512 } });
  });

  it(
    "ten `oneshot run` jobs in a row each run in a fresh warm VM: ten VM ids, nothing of job 1 in job 2",
    async () => {
      const seen: { vmId: string; start: string; ms: number }[] = [];
      for (let i = 0; i < 10; i++) {
        await untilPoolFull();
        const r = await stack.cli([
          "run",
          "--json",
          "--",
          "sh",
          "-c",
          `[ -e /root/left-behind ] && echo LEFT-BEHIND $(cat /root/left-behind); echo job-${i} > /root/left-behind; echo ran-${i}`,
        ]);
        expect(r.code, r.stderr).toBe(0);
        const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { vmId: string; start: string; exitCode: number };
        expect(r.stdout).not.toContain("LEFT-BEHIND");
        seen.push({ vmId: out.vmId, start: out.start, ms: Math.round(r.ms) });
      }
      expect(new Set(seen.map((s) => s.vmId)).size).toBe(10);
      const hits = seen.filter((s) => s.start === "warm").length;
      console.log(JSON.stringify({ e2e: "warm-ten-in-a-row", hits, runs: seen }));
      expect(hits).toBe(10);
      // Audit trail: every one of them says warm, VmBooted too, and nothing of them is left.
      const events = await stack.events();
      for (const { vmId } of seen) {
        const booted = events.find((e) => e.type === "VmBooted" && (e.data as { vmId: string }).vmId === vmId)!;
        expect(booted.data).toMatchObject({ start: "warm" });
        expect(events.some((e) => e.type === "VmDestroyed" && (e.data as { vmId: string }).vmId === vmId)).toBe(true);
        expect(leftovers(vmId, stack.state)).toEqual([]);
      }
    },
    T,
  );

  it(
    "the progress line says warm",
    async () => {
      await untilPoolFull();
      const r = await stack.cli(["run", "--", "true"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/warm: no boot/);
      expect(r.stderr).toMatch(/warm VM: job handed over in \d+ms/);
    },
    T,
  );

  it(
    "a burst larger than the pool falls back to cold boots and every job completes",
    async () => {
      await untilPoolFull();
      // Four at once (twice the pool), started 300 ms apart: a CLI's NATS connect has 3 s, and two
      // cores also boot the pool's refills meanwhile.
      const runs = await Promise.all(
        Array.from({ length: 4 }, async (_, i) => {
          await new Promise((r) => setTimeout(r, 300 * i));
          return stack.cli(["run", "--json", "--", "sh", "-c", `exit ${i}`]);
        }),
      );
      // --json prints the result only (not the job's output): its exit code says it ran.
      const starts = runs.map((r, i) => {
        expect(r.code, r.stderr).toBe(i);
        return (JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { start: string }).start;
      });
      console.log(JSON.stringify({ e2e: "warm-burst", starts }));
      expect(starts.filter((s) => s === "warm").length).toBeGreaterThanOrEqual(1);
      expect(starts.filter((s) => s === "warm").length).toBeLessThanOrEqual(2 + 2); // the pool, plus refills that came in time
      expect(starts.filter((s) => s === "cold").length).toBeGreaterThanOrEqual(1);
    },
    T,
  );

  it(
    "a job of another shape boots cold beside the pool",
    async () => {
      const r = await stack.cli(["run", "--json", "--mem", "256m", "--", "true"]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout.trim().split("\n").at(-1)!)).toMatchObject({ start: "cold" });
    },
    T,
  );

  it(
    "a cold job of another shape preempts a warm VM when the host is full, and the pool refills after",
    async () => {
      await untilPoolFull();
      // The registered (cold) capacity is 2 vCPUs: a 2-vCPU job fills it.
      const long = stack.cli(["run", "--json", "--cpus", "2", "--mem", "256m", "--", "sh", "-c", "sleep 25; echo long-done"]);
      await waitFor(
        "the 2-vCPU job to run",
        async () => {
          const events = await stack.events();
          const vms = new Set(
            events
              .filter((e) => e.type === "JobScheduled" && (e.data as { spec: { vcpus: number } }).spec.vcpus === 2)
              .map((e) => (e.data as { vmId: string }).vmId),
          );
          return events.some((e) => e.type === "VmBooted" && vms.has((e.data as { vmId: string }).vmId));
        },
        300_000,
        1_000,
      );
      const r = await stack.cli(["run", "--json", "--mem", "256m", "--", "sh", "-c", "exit 5"]);
      expect(r.code, r.stderr).toBe(5);
      const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { jobId: string; start: string };
      expect(out.start).toBe("cold");
      const events = await stack.events();
      const sched = events.find((e) => e.type === "JobScheduled" && (e.data as { jobId: string }).jobId === out.jobId)!.data as {
        preempts?: { vmId: string }[];
      };
      expect(sched.preempts?.length).toBe(1);
      const victim = sched.preempts![0]!.vmId;
      expect(events.find((e) => e.type === "WarmVmRetired" && (e.data as { vmId: string }).vmId === victim)?.data).toMatchObject({ reason: "preempted" });
      expect(leftovers(victim, stack.state)).toEqual([]);
      const l = await long;
      expect(l.code, l.stderr).toBe(0);
      console.log(JSON.stringify({ e2e: "warm-preempted", victim, job: out.jobId }));
      await untilPoolFull();
    },
    T,
  );
});
