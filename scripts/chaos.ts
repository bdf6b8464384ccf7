// `npm run chaos [-- --jobs 2000 --hosts 200 --burst-sec 120 --nats cluster|single]`:
// the chaos suite at full size (packages/testing/src/chaos/chaos-run.ts; the short version is
// chaos.e2e.test.ts). Needs `npm run build` and nats-server. Prints one line per fault with its
// time to recover, then the log's verdict; exits 1 on any violation or unrecovered fault.
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { runChaos } from "../packages/testing/src/chaos/chaos-run.js";

const { values: a } = parseArgs({
  options: {
    jobs: { type: "string", default: "2000" },
    hosts: { type: "string", default: "200" },
    "burst-sec": { type: "string", default: "120" },
    "run-ms": { type: "string", default: "500-3000" },
    "boot-ms": { type: "string", default: "100-400" },
    "settle-sec": { type: "string", default: "180" },
    nats: { type: "string", default: "cluster" },
  },
});
const range = (s: string): [number, number] => {
  const [lo, hi] = s.split("-").map(Number);
  return [lo!, hi ?? lo!];
};
if (a.nats !== "cluster" && a.nats !== "single") throw new Error("--nats must be cluster or single");
const nats = a.nats;
const r = await runChaos({
  repoRoot: fileURLToPath(new URL("..", import.meta.url)),
  jobs: Number(a.jobs),
  hosts: Number(a.hosts),
  burstSec: Number(a["burst-sec"]),
  bootMs: range(a["boot-ms"]!),
  runMs: range(a["run-ms"]!),
  nats,
  settleSec: Number(a["settle-sec"]),
  say: (l) => console.log(l),
});
const v = r.verdict;
console.log(
  `log: ${v.jobs} jobs accepted, ${v.ended} ended, ${v.placements} placements, ${v.vmsClaimed} VMs claimed, peak host vCPU use ${(v.peakVcpuRatio * 100).toFixed(0)}% of capacity`,
);
console.log(`fleet at the end: ${JSON.stringify(r.fleetEnd)}`);
for (const x of v.violations.slice(0, 50))
  console.log(`VIOLATION ${x.kind} seq=${x.seq} job=${x.jobId ?? "-"} host=${x.hostId ?? "-"} vm=${x.vmId ?? "-"}: ${x.detail}`);
if (v.violations.length > 50) console.log(`… ${v.violations.length - 50} more violations`);
const fleetClean = !!r.fleetEnd && r.fleetEnd.vmsRunning === 0 && r.fleetEnd.tapsLeft === 0 && r.fleetEnd.rulesLeft === 0;
const ok = v.violations.length === 0 && r.failedFaults.length === 0 && r.settled && fleetClean;
console.log(
  `${ok ? "PASS" : "FAIL"}: ${r.nats} NATS, ${r.faults.length} faults recovered, ${r.failedFaults.length} not, ${v.violations.length} violations, ${Math.round(r.durationMs / 1000)} s`,
);
process.exit(ok ? 0 : 1);
