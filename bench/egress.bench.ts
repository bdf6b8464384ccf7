// `npm run bench -- egress [--lookups 400] [--connects 2000] [--set 10000]` (as root): the per-connection
// cost of egress policies (docs/egress-policy.md), each case against a baseline measured in the same run.
//  - DNS: sequential A lookups straight to an upstream vs through hostd's DnsProxy, for an open VM
//    (forwarded as is) and an allow-mode VM (forwarded, and the answer put into the VM's nft allow
//    set with `nft -f -` before the reply: the real Nft, on a scratch table in this namespace).
//  - connect: sequential TCP connects from a "VM" namespace through a router namespace holding
//    hostd's real tables to a server namespace, alternating between an open VM (baseline) and an
//    allow-mode VM whose server is in the `allowed` set among --set other elements.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { parseArgs } from "node:util";
import dnsPacket from "dns-packet";
import { AllowCache } from "../services/hostd/src/egress/allow-cache.js";
import { DnsProxy } from "../services/hostd/src/egress/dns-proxy.js";
import { exec, type Exec } from "../services/hostd/src/host/exec.js";
import { Nft } from "../services/hostd/src/net/nft.js";
import { FORBIDDEN_RANGES } from "../services/hostd/src/net/ipv4.js";
import { vmNetFor } from "../services/hostd/src/net/vm-address.js";

const { values } = parseArgs({
  options: { lookups: { type: "string", default: "400" }, connects: { type: "string", default: "2000" }, set: { type: "string", default: "10000" } },
});
const connects = Number(values.connects);
const lookups = Number(values.lookups);
const setSize = Number(values.set);
if (process.getuid?.() !== 0) {
  console.error("egress bench: needs root (nft, namespaces)");
  process.exit(2);
}
const line = (o: Record<string, unknown>) => console.log(JSON.stringify(o));
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const r2 = (x: number) => Math.round(x * 100) / 100;
const sh = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};
const tag = process.pid.toString(36).slice(-4);

// ── DNS through the proxy ──────────────────────────────────────────────────────────────────────
const upstream = createSocket("udp4");
upstream.on("message", (m, r) => {
  const q = dnsPacket.decode(m);
  // h<i>.bench.test → an address of its own: every new name is a new allow-set element.
  const i = Number(/^h(\d+)\./.exec(q.questions![0]!.name)?.[1] ?? 0);
  const answers = [{ type: "A" as const, class: "IN" as const, name: q.questions![0]!.name, ttl: 300, data: `198.19.${(i >> 8) & 255}.${i & 255}` }];
  upstream.send(dnsPacket.encode({ type: "response", id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers }), r.port, r.address);
});
await new Promise<void>((r) => upstream.bind(0, "127.0.0.1", r));
const upPort = upstream.address().port;

const nft = new Nft(exec);
const bridge = `osbn${tag}`;
const base = { bridge, subnet: "172.31.250.0/24", dns: "127.0.0.1", forbidden: [...FORBIDDEN_RANGES], dnsProxy: true };
await nft.ensureBase(base);
const vmAddr = "172.31.250.2";
await nft.ensureVmRules(bridge, { vmId: `b${tag}`, net: vmNetFor(`b${tag}`, base.subnet, vmAddr, "172.31.250.1"), bytesPerSec: 1e9 }, false);
let policy: "open" | "allow" = "open";
const cache = new AllowCache();
const proxy = new DnsProxy({
  listen: { address: "127.0.0.2", port: 0 },
  upstream: { address: "127.0.0.1", port: upPort },
  ttl: { minSec: 30, maxSec: 3600 },
  log: { warn: () => undefined } as never,
  vmAt: () => ({ vmId: `b${tag}`, policy: policy === "open" ? undefined : { mode: "allow", allow: ["*.bench.test"], source: "bench" } }),
  // As EgressHost does: addresses already in the set (half their timeout left) cost no nft call.
  allow: async (_vm, entries) => {
    const fresh = cache.toAdd(`b${tag}`, vmAddr, entries, Date.now());
    if (!fresh.length) return;
    await nft.allowResolved(bridge, vmAddr, fresh);
    cache.added(`b${tag}`, vmAddr, fresh, Date.now());
  },
  noteQuery: () => undefined,
  noteResolved: () => undefined,
});

const client = createSocket("udp4");
await new Promise<void>((r) => client.bind(0, "127.0.0.1", r));
/** One lookup's round trip (ms): through the proxy's `answer` (the UDP hop to the proxy is the same as to any resolver) or straight upstream. */
async function lookup(i: number, via: "direct" | "proxy"): Promise<number> {
  const q = dnsPacket.encode({ type: "query", id: i & 0xffff, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: "A", name: `h${i}.bench.test` }] });
  const t = performance.now();
  if (via === "proxy") {
    await proxy.answer(q, vmAddr, "udp");
  } else {
    await new Promise<void>((resolve) => {
      const on = () => {
        client.off("message", on);
        resolve();
      };
      client.on("message", on);
      client.send(q, upPort, "127.0.0.1");
    });
  }
  return performance.now() - t;
}
const runLookups = async (via: "direct" | "proxy", from: number, n = lookups, same = false) => {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) ms.push(await lookup(same ? from : from + i, via));
  return { p50: pct(ms, 50), p99: pct(ms, 99) };
};
await runLookups("direct", 0); // warm-up
const direct = await runLookups("direct", 10_000);
policy = "open";
const viaOpen = await runLookups("proxy", 20_000);
policy = "allow";
// A name seen for the first time: its address goes into the VM's set (one `nft -f -`) before the answer.
const viaAllow = await runLookups("proxy", 30_000, Math.min(lookups, 100));
// The same name again (a build resolving its registry over and over): already in the set.
const viaAllowRepeat = await runLookups("proxy", 30_000, lookups, true);
line({
  case: "dns-lookup",
  lookups,
  directP50Ms: r2(direct.p50),
  directP99Ms: r2(direct.p99),
  proxyOpenP50Ms: r2(viaOpen.p50),
  proxyOpenP99Ms: r2(viaOpen.p99),
  proxyAllowNewP50Ms: r2(viaAllow.p50),
  proxyAllowNewP99Ms: r2(viaAllow.p99),
  proxyAllowRepeatP50Ms: r2(viaAllowRepeat.p50),
  proxyAllowRepeatP99Ms: r2(viaAllowRepeat.p99),
  openVsDirect: r2(viaOpen.p50 / direct.p50),
  allowNewVsDirect: r2(viaAllow.p50 / direct.p50),
  allowRepeatVsDirect: r2(viaAllowRepeat.p50 / direct.p50),
});
client.close();
upstream.close();
await nft.removeBase(bridge);

// ── connects through the egress chain ──────────────────────────────────────────────────────────
const ns = { vm: `osbv${tag}`, router: `osbr${tag}`, server: `osbs${tag}` };
const inNs =
  (n: string): Exec =>
  (cmd, args, o) =>
    exec("ip", ["netns", "exec", n, cmd, ...args], o);
const rnft = new Nft(inNs(ns.router));
const rbridge = "osbench0"; // the router's VM-side link carries the bridge's name: the rules match it by name
const servers: ChildProcess[] = [];
try {
  for (const n of Object.values(ns)) sh("ip", ["netns", "add", n]);
  const link = (a: string, aIf: string, aIp: string, b: string, bIf: string, bIp: string) => {
    sh("ip", ["link", "add", `t${tag}${aIf}`, "type", "veth", "peer", "name", `u${tag}${bIf}`]);
    sh("ip", ["link", "set", `t${tag}${aIf}`, "netns", a, "name", aIf]);
    sh("ip", ["link", "set", `u${tag}${bIf}`, "netns", b, "name", bIf]);
    sh("ip", ["netns", "exec", a, "ip", "addr", "add", aIp, "dev", aIf]);
    sh("ip", ["netns", "exec", b, "ip", "addr", "add", bIp, "dev", bIf]);
    for (const [n, i] of [
      [a, aIf],
      [b, bIf],
    ] as const) {
      sh("ip", ["netns", "exec", n, "ip", "link", "set", i, "up"]);
      sh("ip", ["netns", "exec", n, "ip", "link", "set", "lo", "up"]);
    }
  };
  link(ns.vm, "eth0", "172.31.251.2/24", ns.router, rbridge, "172.31.251.1/24");
  link(ns.router, "up0", "192.0.2.1/30", ns.server, "eth0", "192.0.2.2/30");
  sh("ip", ["netns", "exec", ns.vm, "ip", "route", "add", "default", "via", "172.31.251.1"]);
  sh("ip", ["netns", "exec", ns.server, "ip", "route", "add", "default", "via", "192.0.2.1"]);
  sh("ip", ["netns", "exec", ns.router, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  const srv = spawn(
    "ip",
    ["netns", "exec", ns.server, process.execPath, "-e", `require("net").createServer((s) => s.end()).listen(8080, "0.0.0.0", () => console.log("UP"))`],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  servers.push(srv);
  await new Promise<void>((r) => srv.stdout!.once("data", () => r()));

  // Two "VMs" in one namespace, one open and one in allow mode, connects alternating between them
  // one by one: whatever else loads the machine loads both alike (this machine is shared).
  sh("ip", ["netns", "exec", ns.vm, "ip", "addr", "add", "172.31.251.3/24", "dev", "eth0"]);
  const rbase = { bridge: rbridge, subnet: "172.31.251.0/24", dns: "192.0.2.2", forbidden: [...FORBIDDEN_RANGES], dnsProxy: true };
  const vm = (id: string, address: string, egress: { mode: "open" | "allow"; cidrs: string[] }) => ({
    vmId: id,
    net: { ...vmNetFor(id, rbase.subnet, address, "172.31.251.1"), tap: rbridge },
    bytesPerSec: 1e9,
    egress,
  });
  await rnft.ensureAll(rbase, [vm(`o${tag}`, "172.31.251.2", { mode: "open", cidrs: [] }), vm(`a${tag}`, "172.31.251.3", { mode: "allow", cidrs: [] })]);
  // The allow set as a busy host has it: many VMs' resolved addresses, and this VM's server.
  const filler = Array.from({ length: setSize }, (_, i) => ({ address: `198.18.${(i >> 8) & 255}.${i & 255}`, timeoutSec: 600 }));
  for (let i = 0; i < filler.length; i += 2000) await rnft.allowResolved(rbridge, "172.31.250.9", filler.slice(i, i + 2000));
  await rnft.allowResolved(rbridge, "172.31.251.3", [{ address: "192.0.2.2", timeoutSec: 600 }]);
  const code = `
    const net = require("net");
    const from = ["172.31.251.2", "172.31.251.3"], us = [[], []];
    const one = (i) => new Promise((ok, fail) => { const t = process.hrtime.bigint(); const s = net.connect({ port: 8080, host: "192.0.2.2", localAddress: from[i % 2] }, () => { us[i % 2].push(Number(process.hrtime.bigint() - t) / 1000); s.destroy(); ok(); }); s.on("error", fail); s.setTimeout(3000, () => fail(new Error("timeout from " + from[i % 2]))); });
    (async () => { for (let i = 0; i < ${connects * 2 + 200}; i++) await one(i); console.log(JSON.stringify(us.map((x) => x.slice(100)))); })().catch((e) => { console.log("ERR " + e.message); });`;
  const out = sh("ip", ["netns", "exec", ns.vm, process.execPath, "-e", code]).trim();
  if (out.startsWith("ERR")) throw new Error(`connect failed (${out}): the rules dropped the bench's own traffic`);
  const [openUs, allowUs] = JSON.parse(out) as [number[], number[]];
  line({
    case: "connect",
    connectsEach: openUs.length,
    allowSetElements: setSize + 1,
    openP50Us: Math.round(pct(openUs, 50)),
    openP99Us: Math.round(pct(openUs, 99)),
    allowP50Us: Math.round(pct(allowUs, 50)),
    allowP99Us: Math.round(pct(allowUs, 99)),
    allowVsOpenP50: r2(pct(allowUs, 50) / pct(openUs, 50)),
    allowVsOpenMean: r2(allowUs.reduce((a, b) => a + b, 0) / openUs.reduce((a, b) => a + b, 0)),
  });
} finally {
  for (const s of servers) s.kill("SIGKILL");
  for (const n of Object.values(ns)) spawnSync("ip", ["netns", "del", n]);
}
process.exit(0);
