// `node services/hostd/dist/sim/fleet-main.js --hosts 1000`: N simulated hosts (real host
// agents, simulated VMM/network/disks) in one process. NATS_URL / NATS_USER / NATS_PASSWORD
// as for any service: one identity for the whole fleet (admin, or a no-auth server).
// Prints one JSON line when every host is registered and consuming ("ready"), one every
// --stats-every seconds, and one at the end (SIGTERM/SIGINT) with what is left on the hosts.
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connectNats, createLogger, type Logger, type Nats } from "@oneshot/runtime";
import { simHostId, startFleet, uniform } from "./fleet.js";

const { values: a } = parseArgs({
  options: {
    hosts: { type: "string", default: "1000" },
    connections: { type: "string", default: "4" },
    prefix: { type: "string", default: "sim" },
    dir: { type: "string", default: join(tmpdir(), "oneshot-sim-fleet") },
    vcpus: { type: "string", default: "4" },
    "mem-mib": { type: "string", default: "8192" },
    "disk-gib": { type: "string", default: "100" },
    "max-vms": { type: "string", default: "4" },
    "boot-ms": { type: "string", default: "200" },
    "run-ms": { type: "string", default: "500-3000" },
    "heartbeat-sec": { type: "string", default: "5" },
    "fence-after-sec": { type: "string", default: "30" },
    "inventory-sec": { type: "string", default: "30" },
    "stats-every": { type: "string", default: "0" },
    provision: { type: "boolean", default: false },
    /** With --provision: stream and bucket replicas (3 on a 3-node cluster), as `oneshot admin init --replicas`. */
    replicas: { type: "string" },
  },
});
const int = (name: keyof typeof a): number => {
  const n = Number(a[name]);
  if (!Number.isFinite(n) || n < 0) {
    process.stderr.write(`fleet: --${name} must be a number (got ${String(a[name])})\n`);
    process.exit(2);
  }
  return n;
};
const range = (s: string): [number, number] => {
  const [lo, hi] = s.split("-").map(Number);
  return [lo!, hi ?? lo!];
};
const log = createLogger("hostd-sim", { level: process.env.LOG_LEVEL ?? "warn" });
const natsUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const hostIds = Array.from({ length: int("hosts") }, (_, i) => simHostId(a.prefix!, i));
if (a.provision) {
  // The operator's step (`oneshot admin init`: streams, buckets, one durable per host), from the
  // CLI's admin code; the fleet's identity must be allowed it.
  type ProvisionAll = (n: Nats, hosts: string[], log: Logger, o?: { replicas?: number }) => Promise<string[]>;
  const { provisionAll } = (await import(new URL("../../../../packages/cli/dist/admin/provision.js", import.meta.url).href)) as { provisionAll: ProvisionAll };
  const admin = await connectNats({ url: natsUrl, name: "sim-fleet-provision", user: process.env.NATS_USER, password: process.env.NATS_PASSWORD }, log);
  await provisionAll(admin, hostIds, log, a.replicas ? { replicas: int("replicas") } : {});
  await admin.nc.close();
}
const [runLo, runHi] = range(a["run-ms"]!);
const [bootLo, bootHi] = range(a["boot-ms"]!);
const t0 = performance.now();
const fleet = await startFleet({
  natsUrl,
  user: process.env.NATS_USER,
  password: process.env.NATS_PASSWORD,
  hosts: int("hosts"),
  connections: int("connections"),
  prefix: a.prefix!,
  dir: a.dir!,
  capacity: { vcpus: int("vcpus"), memMiB: int("mem-mib"), diskGiB: int("disk-gib") },
  maxConcurrent: int("max-vms"),
  guest: { bootMs: uniform(bootLo, bootHi), runMs: uniform(runLo, runHi), exitCode: () => 0 },
  heartbeatSec: int("heartbeat-sec"),
  fenceAfterSec: int("fence-after-sec"),
  inventorySec: int("inventory-sec"),
  log,
});
const line = (what: string) => process.stdout.write(`${JSON.stringify({ fleet: what, ...fleet.stats(), atMs: Math.round(performance.now() - t0) })}\n`);
line("ready");
const statsEvery = int("stats-every");
const timer = statsEvery ? setInterval(() => line("stats"), statsEvery * 1000) : undefined;
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  if (timer) clearInterval(timer);
  await fleet.stop();
  line("stopped");
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
