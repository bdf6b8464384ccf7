// `npm run bench -- pickup [--n 10]` (as root, after `npm run build` and images/build-minimal.sh).
// Cold vs warm job pickup (docs/warm-pool.md) on one `oneshot up --warm 2` stack, in one run:
//
//  cold:  `oneshot run -- true` with a shape no pool has (511 MiB instead of the pool's 512),
//         so its VM boots for it;
//  warm:  `oneshot run -- true` of the pool's shape (oneshot run's default), with a warm VM ready.
//
// Alternated, N of each. Per run: CLI spawn → exit, and JobQueued → the job's process started in
// the guest (the authenticated ONESHOT-JOB-START console line, as it reaches this process over
// NATS: an upper bound, it includes hostd's console polling and the publish). Medians, and
// warm/cold ratios. One JSON line per case.
//
// Warm runs also get their phases (docs/warm-pool.md "Where a warm pickup's time goes"), each
// a median over the runs, from the log (occurredAt), hostd's `hand-over phases` line (its
// clock; LOG_LEVEL=info) and the agent's `oneshot: hand-over us` console line (the guest's):
//   decide     JobQueued stored → the scheduler's JobScheduled decision (occurredAt to occurredAt)
//   toHostd    that decision → hostd read it (the append, the delivery)
//   launch     hostd read it → the job's files ready (admission, record, claim started, launch)
//   fill       the job drive written (payload, header, grown by a block)
//   doorbell   the VMM told (QEMU block_resize over QMP)
//   guest      doorbell → hostd read the ready marker; of it, in the guest (µs since it saw the
//              doorbell): read (header, payload, sha256), erase (+ read back), unbind, extract,
//              checks (the launch's files), mac (the start marker's HMAC); `wake` is the rest:
//              the guest's poll, the console, hostd's read
//   start      ready marker read → start marker read (hostd)
//   toBench    the rest of JobQueued → start line at this process: deliveries to the bench
// and every run its end to end in steps (`cliStepsMsMedian`, this process's clock): cliToQueued
// (the CLI's start, connect and POST, ingest's append), queuedToStart, startToExited (the job,
// the guest's power-off), exitedToDestroyed, destroyedToCompleted (the scheduler), completedToCliExit.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { subjects, type DomainEvent, type Stored } from "@oneshot/proto";
import { connect } from "../packages/cli/src/client/connection.js";
import { followVmOutput } from "../packages/cli/src/client/vm-output.js";
import { startUp } from "../packages/cli/src/e2e/harness.js";
import { waitFor } from "@oneshot/testing";

const { values } = parseArgs({ options: { n: { type: "string", default: "10" } } });
const n = Number(values.n);
const line = (o: Record<string, unknown>) => console.log(JSON.stringify(o));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const r1 = (x: number) => Math.round(x * 10) / 10;
if (process.getuid?.() !== 0) throw new Error("run as root (taps, nftables)");

const stack = await startUp({
  env: { HOSTD_MAX_VCPUS: "4", HOSTD_MAX_MEM_MIB: "4096", HOSTD_MAX_CONCURRENT_VMS: "4", LOG_LEVEL: "info" },
  args: ["--warm", "2"],
});
try {
  Object.assign(process.env, stack.env);
  const { nats, store, close } = await connect({ readOnly: true });
  const queuedAt = new Map<string, number>();
  const occurred = new Map<string, { queued?: number; scheduled?: number }>();
  const at = (jobId: string) => occurred.get(jobId) ?? occurred.set(jobId, {}).get(jobId)!;
  /** When this process read each job's VmExited, VmDestroyed and JobCompleted (the end to end's tail). */
  const seen = new Map<string, Partial<Record<"VmExited" | "VmDestroyed" | "JobCompleted", number>>>();
  const started = new Map<string, number>();
  const warmReady = new Set<string>();
  const stops: (() => Promise<void>)[] = [];
  stops.push(
    await store.follow(
      subjects.allEvents,
      async (e: Stored<DomainEvent>) => {
        const now = performance.now();
        if (e.type === "JobQueued") {
          queuedAt.set(e.data.jobId, now);
          at(e.data.jobId).queued = Date.parse(e.occurredAt);
        }
        if (e.type === "VmWarmed") warmReady.add(e.data.vmId);
        if (e.type === "VmExited" || e.type === "VmDestroyed" || e.type === "JobCompleted") {
          const s = seen.get(e.data.jobId) ?? {};
          s[e.type] = now;
          seen.set(e.data.jobId, s);
        }
        if (e.type === "WarmVmRetired") warmReady.delete(e.data.vmId);
        if (e.type === "JobScheduled") {
          at(e.data.jobId).scheduled = Date.parse(e.occurredAt);
          if (e.data.start === "warm") warmReady.delete(e.data.vmId);
          const { jobId } = e.data;
          let text = "";
          stops.push(
            await followVmOutput(nats, e.data.hostId, e.data.vmId, (o) => {
              if (started.has(jobId)) return;
              text += o.text;
              if (/^ONESHOT-JOB-START .*mac=[0-9a-f]{64}\r?$/m.test(text)) started.set(jobId, performance.now());
            }),
          );
        }
      },
      { startSeq: 1 },
    ),
  );

  const runOnce = async (kind: "cold" | "warm") => {
    if (kind === "warm") await waitFor("a warm VM ready", () => warmReady.size >= 1, 300_000, 50);
    const spawnedAt = performance.now();
    const r = await stack.cli(["run", "--json", ...(kind === "cold" ? ["--mem", "511m"] : []), "--", "true"]);
    if (r.code !== 0) throw new Error(`${kind} run failed (${r.code}): ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { jobId: string; start: string };
    if (out.start !== kind) throw new Error(`a ${kind} run started ${out.start} (pool not ready?)`);
    await waitFor("the job's start line", () => started.has(out.jobId), 10_000, 20);
    const q = queuedAt.get(out.jobId)!;
    const st = started.get(out.jobId)!;
    const end = seen.get(out.jobId) ?? {};
    // The whole run in steps (this process's clock): the CLI until its job is stored, the
    // pickup, the job and the guest's power-off, the destroy, the scheduler's JobCompleted, the
    // CLI's exit after it.
    const steps = {
      cliToQueued: q - spawnedAt,
      queuedToStart: st - q,
      startToExited: (end.VmExited ?? NaN) - st,
      exitedToDestroyed: (end.VmDestroyed ?? NaN) - (end.VmExited ?? NaN),
      destroyedToCompleted: (end.JobCompleted ?? NaN) - (end.VmDestroyed ?? NaN),
      completedToCliExit: spawnedAt + r.ms - (end.JobCompleted ?? NaN),
    };
    return { jobId: out.jobId, cliMs: r.ms, queuedToStartMs: st - q, steps };
  };

  const runs: Record<"cold" | "warm", { jobId: string; cliMs: number; queuedToStartMs: number; steps: Record<string, number> }[]> = { cold: [], warm: [] };
  await runOnce("warm"); // first of each: warms caches (image pages, JIT), not counted
  await runOnce("cold");
  for (let i = 0; i < n; i++) {
    runs.warm.push(await runOnce("warm"));
    runs.cold.push(await runOnce("cold"));
  }
  const stats = (k: "cold" | "warm") => ({
    cliMsMedian: r1(median(runs[k].map((x) => x.cliMs))),
    queuedToStartMsMedian: r1(median(runs[k].map((x) => x.queuedToStartMs))),
    cliStepsMsMedian: Object.fromEntries(Object.keys(runs[k][0]!.steps).map((s) => [s, r1(median(runs[k].map((x) => x.steps[s]!)))])),
    cliMs: runs[k].map((x) => r1(x.cliMs)),
    queuedToStartMs: runs[k].map((x) => r1(x.queuedToStartMs)),
  });
  const cold = stats("cold");
  const warm = stats("warm");
  line({ case: "cold", n, ...cold });
  line({ case: "warm", n, ...warm });
  line({ case: "warm-phases", n, ...warmPhases(runs.warm, occurred, hostdLog(stack.state)) });
  line({
    case: "warm-vs-cold",
    n,
    cliRatio: r1((warm.cliMsMedian / cold.cliMsMedian) * 1000) / 1000,
    queuedToStartRatio: r1((warm.queuedToStartMsMedian / cold.queuedToStartMsMedian) * 1000) / 1000,
    targets: { warmQueuedToStartP50Under150Ms: warm.queuedToStartMsMedian < 150, warmCliAtMostQuarterOfCold: warm.cliMsMedian <= 0.25 * cold.cliMsMedian },
  });
  for (const s of stops.reverse()) await s().catch(() => undefined);
  await close();
} finally {
  await stack.stop();
}

/** hostd's `hand-over phases` lines by job id (every hostd log of the stack). */
function hostdLog(state: string): Map<string, HandOverLine> {
  const out = new Map<string, HandOverLine>();
  const dir = join(state, "logs");
  for (const f of readdirSync(dir).filter((f) => f.startsWith("hostd"))) {
    for (const raw of readFileSync(join(dir, f), "utf8").split("\n")) {
      if (!raw.includes('"hand-over phases"')) continue;
      try {
        const l = JSON.parse(raw) as HandOverLine;
        out.set(l.jobId, l);
      } catch {
        // a line cut by the log's rotation: not a sample
      }
    }
  }
  return out;
}

interface HandOverLine {
  jobId: string;
  readAtEpochMs: number;
  phases: { launchMs: number; fillMs: number; doorbellMs: number; guestMs: number; startMarkerMs?: number };
  guestUs?: Partial<Record<"read" | "erase" | "unbind" | "extract" | "checks" | "mac", number>>;
}

/** Median of each phase over the warm runs (ms); the phases and their sum are medians, not a sum of medians. */
function warmPhases(
  runs: { jobId: string; queuedToStartMs: number }[],
  occurred: Map<string, { queued?: number; scheduled?: number }>,
  log: Map<string, HandOverLine>,
) {
  const rows = runs.flatMap((r) => {
    const o = occurred.get(r.jobId);
    const h = log.get(r.jobId);
    if (!o?.queued || !o.scheduled || !h) return [];
    const g = h.guestUs ?? {};
    const cum = [g.read, g.erase, g.unbind, g.extract, g.checks, g.mac].map((x) => (x ?? 0) / 1000);
    const step = (i: number) => Math.max(0, cum[i]! - (i ? cum[i - 1]! : 0));
    const p = {
      decide: o.scheduled - o.queued,
      toHostd: h.readAtEpochMs - o.scheduled,
      launch: h.phases.launchMs,
      fill: h.phases.fillMs,
      doorbell: h.phases.doorbellMs,
      guest: h.phases.guestMs,
      guestRead: step(0),
      guestErase: step(1),
      guestUnbind: step(2),
      guestExtract: step(3),
      guestChecks: step(4),
      guestMac: step(5),
      guestWake: h.phases.guestMs - cum[5]!,
      start: h.phases.startMarkerMs ?? 0,
    };
    const host = p.decide + p.toHostd + p.launch + p.fill + p.doorbell + p.guest + p.start;
    return [{ ...p, toBench: r.queuedToStartMs - host, total: r.queuedToStartMs }];
  });
  const keys = rows.length ? (Object.keys(rows[0]!) as (keyof (typeof rows)[number])[]) : [];
  return { samples: rows.length, phasesMsMedian: Object.fromEntries(keys.map((k) => [k, r1(median(rows.map((x) => x[k])))])) };
}
