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
  env: { HOSTD_MAX_VCPUS: "4", HOSTD_MAX_MEM_MIB: "4096", HOSTD_MAX_CONCURRENT_VMS: "4", LOG_LEVEL: "warn" },
  args: ["--warm", "2"],
});
try {
  Object.assign(process.env, stack.env);
  const { nats, store, close } = await connect({ readOnly: true });
  const queuedAt = new Map<string, number>();
  const started = new Map<string, number>();
  const warmReady = new Set<string>();
  const stops: (() => Promise<void>)[] = [];
  stops.push(
    await store.follow(
      subjects.allEvents,
      async (e: Stored<DomainEvent>) => {
        const now = performance.now();
        if (e.type === "JobQueued") queuedAt.set(e.data.jobId, now);
        if (e.type === "VmWarmed") warmReady.add(e.data.vmId);
        if (e.type === "WarmVmRetired") warmReady.delete(e.data.vmId);
        if (e.type === "JobScheduled") {
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
    const r = await stack.cli(["run", "--json", ...(kind === "cold" ? ["--mem", "511m"] : []), "--", "true"]);
    if (r.code !== 0) throw new Error(`${kind} run failed (${r.code}): ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { jobId: string; start: string };
    if (out.start !== kind) throw new Error(`a ${kind} run started ${out.start} (pool not ready?)`);
    await waitFor("the job's start line", () => started.has(out.jobId), 10_000, 20);
    return { cliMs: r.ms, queuedToStartMs: started.get(out.jobId)! - queuedAt.get(out.jobId)! };
  };

  const runs: Record<"cold" | "warm", { cliMs: number; queuedToStartMs: number }[]> = { cold: [], warm: [] };
  await runOnce("warm"); // first of each: warms caches (image pages, JIT), not counted
  await runOnce("cold");
  for (let i = 0; i < n; i++) {
    runs.warm.push(await runOnce("warm"));
    runs.cold.push(await runOnce("cold"));
  }
  const stats = (k: "cold" | "warm") => ({
    cliMsMedian: r1(median(runs[k].map((x) => x.cliMs))),
    queuedToStartMsMedian: r1(median(runs[k].map((x) => x.queuedToStartMs))),
    cliMs: runs[k].map((x) => r1(x.cliMs)),
    queuedToStartMs: runs[k].map((x) => r1(x.queuedToStartMs)),
  });
  const cold = stats("cold");
  const warm = stats("warm");
  line({ case: "cold", n, ...cold });
  line({ case: "warm", n, ...warm });
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
