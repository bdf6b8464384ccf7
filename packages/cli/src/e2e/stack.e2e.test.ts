import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing, waitFor } from "@oneshot/testing";
import { leftovers, maxConcurrentVms, startUp, type UpStack } from "./harness.js";

// The whole system as a user runs it: `oneshot up` (NATS, ingest, scheduler, janitor, hostd as
// separate processes), `oneshot run`, `oneshot events --json`; real QEMU guests.
const skip = missing("nats", "root", "qemu-x86", "nft");
const repo = join(import.meta.dirname, "..", "..", "..", "..");

describe.skipIf(skip)("oneshot end to end (real NATS, real QEMU guests)", () => {
  let stack: UpStack;
  beforeAll(async () => {
    // One host that fits four 1-vCPU/256 MiB jobs at a time.
    stack = await startUp({ env: { HOSTD_MAX_VCPUS: "4", HOSTD_MAX_MEM_MIB: "4096", HOSTD_MAX_CONCURRENT_VMS: "4" } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("runs `sh -c 'echo hi; exit 3'` in a microVM: prints hi, exits 3, leaves nothing behind", async () => {
    const r = await stack.cli(["run", "--mem", "256m", "--", "sh", "-c", "echo hi; exit 3"]);
    expect(r.stdout).toContain("hi");
    expect(r.code, r.stderr).toBe(3);
    const jobId = /queued (\S+)/.exec(r.stderr)?.[1];
    expect(jobId).toBeTruthy();
    const events = await stack.events(["--job", jobId!]);
    const types = events.map((e) => e.type);
    const order = ["JobQueued", "JobScheduled", "VmBootRequested", "VmBooted", "VmExited", "VmDestroyed", "JobCompleted"];
    expect(types.filter((t) => order.includes(t))).toEqual(order);
    expect(new Set(events.map((e) => e.correlationId)).size, JSON.stringify(events.map((e) => [e.type, e.correlationId]))).toBe(1);
    const exited = events.find((e) => e.type === "VmExited")!.data as { exitCode: number; vmId: string };
    expect(exited.exitCode).toBe(3);
    expect(leftovers(exited.vmId, stack.state)).toEqual([]);
    const at = (t: string) => Date.parse(events.find((e) => e.type === t)!.time);
    // Stage timings for the closing note (not asserted: figures belong in benchmarks).
    console.log(
      JSON.stringify({
        e2e: "run-exit-3",
        cliMs: Math.round(r.ms),
        queuedToScheduledMs: at("JobScheduled") - at("JobQueued"),
        scheduledToBootedMs: at("VmBooted") - at("JobScheduled"),
        bootedToExitedMs: at("VmExited") - at("VmBooted"),
        exitedToDestroyedMs: at("VmDestroyed") - at("VmExited"),
        destroyedToCompletedMs: at("JobCompleted") - at("VmDestroyed"),
        timings: events.find((e) => e.type === "VmBooted")!.data,
      }),
    );
  });

  it("answers the README's follow-up commands exactly as written (npx oneshot …, from the repository)", async () => {
    const npx = (args: string[], timeoutMs = 120_000) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        // Its own process group: Ctrl-C reaches npx's whole tree (npx → sh → node), as in a terminal.
        const p = spawn("npx", ["oneshot", ...args], { cwd: repo, env: stack.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
        let stdout = "";
        let stderr = "";
        p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        const t = setTimeout(() => process.kill(-p.pid!, "SIGINT"), timeoutMs);
        p.once("exit", (code) => (clearTimeout(t), resolve({ code, stdout, stderr })));
      });
    const run = await npx(["run", "--", "sh", "-c", "echo hi; exit 3"]);
    expect(run.stdout).toContain("hi");
    expect(run.code, run.stderr).toBe(3);
    const hosts = await npx(["hosts"]);
    expect(hosts.code, hosts.stderr).toBe(0);
    expect(hosts.stdout).toMatch(/local-amd64|local-arm64/);
    // --follow never ends by itself: it must print the log so far, then keep running until stopped.
    const follow = await npx(["events", "--follow"], 8_000);
    expect(follow.stdout).toMatch(/JobCompleted/);
    expect(follow.stderr).not.toMatch(/could not determine executable|Error/);
  });

  it("runs ten jobs on a host that fits four, never more than four VMs at once", async () => {
    const runs = await Promise.all(
      Array.from({ length: 10 }, (_, i) => stack.cli(["run", "--mem", "256m", "-q", "--", "sh", "-c", `echo job-${i}; exit ${i % 2}`])),
    );
    runs.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(i % 2);
      expect(r.stdout).toContain(`job-${i}`);
    });
    expect(maxConcurrentVms(await stack.events())).toBeLessThanOrEqual(4);
  });

  it("finishes every job when the scheduler is killed (SIGKILL) and restarted mid-way", async () => {
    const before = stack.pid("scheduler");
    expect(before).toBeGreaterThan(0);
    const runs = Array.from({ length: 10 }, (_, i) => stack.cli(["run", "--mem", "256m", "-q", "--", "sh", "-c", `echo again-${i}`]));
    await new Promise((r) => setTimeout(r, 1_500));
    process.kill(before!, "SIGKILL");
    await waitFor(
      "scheduler restarted by the supervisor",
      () => {
        const now = stack.pid("scheduler");
        return now !== undefined && now !== before;
      },
      30_000,
    );
    const results = await Promise.all(runs);
    results.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`again-${i}`);
    });
    const events = await stack.events();
    expect(maxConcurrentVms(events)).toBeLessThanOrEqual(4);
    const placements = events
      .filter((e) => e.type === "JobScheduled")
      .map((e) => (e.data as { jobId: string; attempt: number }).jobId + ":" + (e.data as { attempt: number }).attempt);
    expect(new Set(placements).size).toBe(placements.length);
  });
});
