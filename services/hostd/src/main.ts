import { readFile, mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { streams, subjects, type HostRegistered } from "@oneshot/proto";
import { bootService, newEventId, publishMessage, runDurableConsumer } from "@oneshot/runtime";
import { decideAccel, probeBoot } from "./agent/accel.js";
import { startFenceGuard } from "./agent/fence-guard.js";
import { fenced as markFenced, mustFence, newLease, remainingMs, renew } from "./agent/fence-lease.js";
import { HostAgent } from "./agent/host-agent.js";
import { loadFlags, saveFlags } from "./agent/host-flags.js";
import { WarmPool, poolReservation, type PoolSpec } from "./agent/warm-pool.js";
import { readJobScript, requestRunnerLaunch } from "./agent/job-inputs.js";
import { HostdEnv } from "./config.js";
import { computeCapacity, machineFacts } from "./host/capacity.js";
import { machineArch, tscKhz } from "./host/cpu.js";
import { exec } from "./host/exec.js";
import { loadOrCreateHostKey } from "./host/host-key.js";
import { AddressPool } from "./net/address-pool.js";
import { hostDns } from "./net/dns.js";
import { ensureHostNetwork, readForbidden } from "./net/host-network.js";
import { IsolationGuard } from "./net/isolation-guard.js";
import { DNS_PROXY_PORT } from "./egress/egress-env.js";
import { EgressHost, proxyAddressOf } from "./egress/egress-host.js";
import { mbitToBytesPerSec, type GatewayPorts } from "./net/nft-rules.js";
import { gatewayOf } from "./net/vm-address.js";
import { vmRate } from "./net/vm-rate.js";
import { Links } from "./net/links.js";
import { Nft } from "./net/nft.js";
import { mirrorInstances } from "./mirror/mirror-config.js";
import { registryMirrorMetrics } from "./mirror/mirror-metrics.js";
import { RegistryMirror } from "./mirror/registry-mirror.js";
import { assembleInventory, scanMachine } from "./telemetry/inventory.js";
import { every } from "./telemetry/loop.js";
import { warmPoolMetrics } from "./telemetry/warm-metrics.js";
import { DoneLog } from "./vm/done-log.js";
import { findImages } from "./vm/images.js";
import { listRunDirs, readRecord, runDirOf, vmsDir } from "./vm/run-dir.js";
import { VmEvents } from "./vm/vm-events.js";
import type { VmDeps } from "./vm/vm-runner.js";
import { selectDriver } from "./vmm/select.js";
import { VmCgroups } from "./vmm/cgroup/vm-cgroups.js";

const VERSION = "0.1.0";
const svc = await bootService("hostd", HostdEnv);
const { config: c, log, nats, store, shutdown } = svc;
const fatal = (reason: string, err?: unknown): never => {
  log.fatal({ err, reason }, "hostd cannot start");
  process.stderr.write(`oneshot-hostd: ${reason}\n`);
  process.exit(1);
};
const startedAt = performance.now();
const bootId = newEventId();
const hostId = c.HOSTD_HOST_ID;
const hostArch = machineArch(process.arch) ?? fatal(`unsupported machine ${process.arch}: amd64 and arm64 only`);
const arch = c.HOSTD_ARCH ?? hostArch;
const emulated = arch !== hostArch;
const stateDir = resolve(c.ONESHOT_STATE_DIR);
const hostDir = join(stateDir, "hostd", "hosts", hostId);
await mkdir(vmsDir(stateDir), { recursive: true, mode: 0o700 });
await mkdir(hostDir, { recursive: true, mode: 0o700 });

// Host facts: TSC for x86 microvm guests, the VMM, the guest images.
const cpuinfo = await readFile("/proc/cpuinfo", "utf8").catch(() => "");
const dmesg = (await exec("dmesg", [], { timeoutMs: 5_000 })).stdout;
const tsc = arch === "amd64" ? tscKhz(cpuinfo, dmesg) : undefined;
// Each VMM in a cgroup v2 leaf of its own under HOSTD_CGROUP_PARENT, with cpu.max and memory.max.
const cgroups = c.HOSTD_VMM_CGROUP === "off" ? undefined : await VmCgroups.detect({ parent: c.HOSTD_CGROUP_PARENT });
if (!cgroups) log.warn({ cgroups: "off" }, "HOSTD_VMM_CGROUP=off: VMM processes run without cgroup limits");
else if (cgroups.support.kind === "limits")
  log.info({ cgroups: "limits", parent: cgroups.support.parentDir }, "every VMM gets a cgroup v2 leaf with cpu.max and memory.max");
else {
  const level = c.HOSTD_VMM_CGROUP === "required" ? "error" : "warn";
  log[level](
    { cgroups: cgroups.support.kind, reason: cgroups.support.reason, policy: c.HOSTD_VMM_CGROUP },
    c.HOSTD_VMM_CGROUP === "required"
      ? "cgroup v2 limits unavailable: boots fail (VmBootFailed no-cgroup) under HOSTD_VMM_CGROUP=required"
      : "cgroup v2 limits unavailable: VMMs run without cpu.max/memory.max",
  );
}
const { driver, probe, why } = await selectDriver(c.HOSTD_VMM, arch, {
  exec,
  log,
  uidBase: c.HOSTD_VMM_UID_BASE,
  tscKhz: tsc,
  stateDir,
  allowNoSandbox: c.HOSTD_ALLOW_NO_SANDBOX,
  cgroups,
  cgroupPolicy: c.HOSTD_VMM_CGROUP,
}).catch((e: Error) => fatal(e.message, e));
const images = await findImages(c.HOSTD_IMAGE_DIR, arch);
if (!images.length)
  log.warn({ dir: resolve(c.HOSTD_IMAGE_DIR), arch }, "no guest image found: every placement will fail until one is built (images/build-minimal.sh)");
log.info({ vmm: driver.name, why, arch, emulated, images: images.map((i) => i.name), tscKhz: tsc }, "VMM selected");

// Network shared by every VM: bridge, forwarding, base isolation rules.
const links = new Links(exec);
const nft = new Nft(exec);
const dns = c.HOSTD_DNS ?? (await hostDns());
// Rates: every VM's own (each way), and all VMs' together, so the host's own traffic keeps its share.
const ratePolicy = { defaultMbit: c.HOSTD_NET_RATE_MBIT, maxMbit: c.HOSTD_NET_MAX_RATE_MBIT, totalMbit: c.HOSTD_NET_TOTAL_MBIT };
const rate = vmRate(ratePolicy);
const totalBytesPerSec = c.HOSTD_NET_TOTAL_MBIT ? mbitToBytesPerSec(c.HOSTD_NET_TOTAL_MBIT) : 0;
const netRate = { policy: ratePolicy, shared: totalBytesPerSec > 0 };
// The registry mirror (docs/registry-mirror.md): one pull-through cache per port on the gateway.
const mirrorDir = resolve(c.HOSTD_REGISTRY_MIRROR_DIR ?? join(stateDir, "registry-mirror"));
const mirrors =
  c.HOSTD_REGISTRY_MIRROR !== "off"
    ? mirrorInstances({ dockerHubUpstream: c.HOSTD_REGISTRY_MIRROR_UPSTREAM, extra: c.HOSTD_REGISTRY_MIRROR_EXTRA, dir: mirrorDir })
    : [];
// Set up now (configs, storage, its user), started once the bridge has the gateway address. `auto`
// (`oneshot up`): a host that cannot run it runs without it, its ports closed.
const mirror = mirrors.length
  ? await RegistryMirror.prepare({
      instances: mirrors,
      dir: mirrorDir,
      listen: gatewayOf(c.HOSTD_SUBNET).address,
      capBytes: c.HOSTD_REGISTRY_MIRROR_CAP_MIB * 1024 * 1024,
      pruneIntervalSec: c.HOSTD_REGISTRY_MIRROR_PRUNE_INTERVAL,
      user: c.HOSTD_REGISTRY_MIRROR_USER,
      bin: c.HOSTD_REGISTRY_MIRROR_BIN,
      exec,
      log: log.child({ part: "registry-mirror" }),
    }).catch((e: Error) =>
      c.HOSTD_REGISTRY_MIRROR === "auto"
        ? void log.warn({ err: e }, "registry mirror off: it cannot run here (HOSTD_REGISTRY_MIRROR=auto)")
        : fatal(`registry mirror: ${e.message}`, e),
    )
  : undefined;
// Host services guests may reach at their gateway (nft gatewayPorts: from the bridge only; every other
// port of the host stays closed to guests). One value, for the rules built now and the isolation guard's.
// The DNS proxy (docs/egress-policy.md): the guests' only resolver, on udp/tcp 53 of their gateway.
const dnsPorts = c.HOSTD_DNS_PROXY ? [DNS_PROXY_PORT] : [];
const guestDns = c.HOSTD_DNS_PROXY ? proxyAddressOf(c.HOSTD_SUBNET).address : dns;
const gatewayPorts: GatewayPorts = { tcp: [...(mirror?.ports ?? []), ...dnsPorts], udp: [...dnsPorts] };
const net = await ensureHostNetwork({
  exec,
  links,
  nft,
  bridge: c.HOSTD_BRIDGE,
  subnet: c.HOSTD_SUBNET,
  dns,
  publicRoutes: c.HOSTD_PUBLIC_ROUTES,
  totalBytesPerSec,
  gatewayPorts,
  dnsProxy: c.HOSTD_DNS_PROXY,
}).catch((e: Error) => fatal(`network setup failed: ${e.message}`, e));
log.info(
  {
    bridge: c.HOSTD_BRIDGE,
    subnet: c.HOSTD_SUBNET,
    dns,
    changed: net.bridge,
    forwardingEnabled: net.forwarding,
    rules: net.rules,
    forbidden: net.forbidden.length,
    vmRateMbit: rate.mbit,
    vmRateSource: rate.source,
    totalMbit: c.HOSTD_NET_TOTAL_MBIT,
  },
  "host network ready",
);
// The mirror listens on the gateway address, which exists now; it is stopped before the bridge goes.
mirror?.start();
if (mirror) registryMirrorMetrics(svc.registry, mirror);

// The accelerator: KVM only when a real guest boots under it.
let accelDecision = decideAccel({ requested: c.HOSTD_ACCEL, emulated, driver: probe, haveImage: images.length > 0 });
if (accelDecision.kind === "fatal") fatal(accelDecision.reason);
if (accelDecision.kind === "probe-boot") {
  log.info({ timeoutSec: c.HOSTD_KVM_PROBE_TIMEOUT }, "probing KVM with a real guest boot");
  const p = await probeBoot({ exec, driver, nft, links, image: images[0]!, stateDir, accel: "kvm", timeoutMs: c.HOSTD_KVM_PROBE_TIMEOUT * 1000, log });
  accelDecision = p.ok ? { kind: "decided", accel: "kvm", reason: p.reason } : { kind: "decided", accel: "tcg", reason: `KVM probe boot failed: ${p.reason}` };
}
const accel = accelDecision.kind === "decided" ? accelDecision.accel : "tcg";
const accelReason = accelDecision.kind === "decided" ? accelDecision.reason : "";
if (accel === "kvm") log.info({ accel, reason: accelReason }, "KVM works: guests run with hardware acceleration");
else log.warn({ accel, reason: accelReason }, "KVM unusable: guests run under QEMU software emulation (TCG), slowly");

const key = await loadOrCreateHostKey(join(hostDir, "host-key.pem"));
if (key.created) log.info({ path: key.path }, "host key created (X25519, 0600)");
if (key.tightened) log.warn({ path: key.path }, "host key file was readable by others: mode set back to 0600");

const facts = await machineFacts(stateDir);
const capacity = computeCapacity(facts, {
  reserveVcpus: c.HOSTD_RESERVE_VCPUS,
  reserveMemMiB: c.HOSTD_RESERVE_MEM_MIB,
  reserveDiskGiB: c.HOSTD_RESERVE_DISK_GIB,
  maxVcpus: c.HOSTD_MAX_VCPUS,
  maxMemMiB: c.HOSTD_MAX_MEM_MIB,
  maxDiskGiB: c.HOSTD_MAX_DISK_GIB,
  vmmOverheadMiB: driver.memOverheadMiB,
  maxConcurrentVms: c.HOSTD_MAX_CONCURRENT_VMS,
});
const labels = [...new Set([`arch:${arch}`, `vmm:${driver.name}`, `accel:${accel}`, ...(emulated ? ["emulated"] : []), ...c.HOSTD_LABELS])];
// Warm pools (docs/warm-pool.md): their capacity is withheld from what this host registers.
const pools: PoolSpec[] = c.HOSTD_WARM_POOLS.map((p) => ({
  shape: { arch, vcpus: p.vcpus, memMiB: p.memMiB, diskGiB: p.diskGiB, image: p.image },
  size: p.size,
}));
// A warm VM gets its job through the driver's hand-over (the job drive's doorbell, docs/warm-pool.md): QEMU and Firecracker have one.
if (pools.length && !driver.handOver) fatal(`HOSTD_WARM_POOLS: the ${driver.name} driver cannot hand a job to a warm VM`);
for (const p of pools)
  if (!images.some((i) => i.arch === arch && i.name === p.shape.image)) fatal(`HOSTD_WARM_POOLS: no ${arch} image ${p.shape.image} in HOSTD_IMAGE_DIR`);
const poolHolds = poolReservation(pools);
const fullCapacity = capacity;
if (pools.length && !(poolHolds.vcpus < fullCapacity.vcpus && poolHolds.memMiB < fullCapacity.memMiB && poolHolds.diskGiB < fullCapacity.diskGiB)) {
  fatal(
    `HOSTD_WARM_POOLS holds ${poolHolds.vcpus} vCPUs/${poolHolds.memMiB} MiB/${poolHolds.diskGiB} GiB: more than this host's ${fullCapacity.vcpus}/${fullCapacity.memMiB}/${fullCapacity.diskGiB} leaves for cold jobs`,
  );
}
const jobCapacity = {
  vcpus: fullCapacity.vcpus - poolHolds.vcpus,
  memMiB: fullCapacity.memMiB - poolHolds.memMiB,
  diskGiB: fullCapacity.diskGiB - poolHolds.diskGiB,
};
const registration = (): HostRegistered["data"] => ({
  hostId,
  arch,
  capacity: jobCapacity,
  labels,
  vmm: driver.name,
  accel,
  emulated,
  images: images.map((i) => i.name),
  publicKey: key.publicKey,
  version: VERSION,
});

const flagsPath = join(hostDir, "flags.json");
const flags = await loadFlags(flagsPath);
const done = new DoneLog(join(hostDir, "done-vms"));
await done.load(new Date());
const addresses = new AddressPool(c.HOSTD_SUBNET);
const runDirs = await listRunDirs(stateDir);
for (const vmId of runDirs) {
  const rec = await readRecord(runDirOf(stateDir, vmId));
  if (rec?.hostId === hostId && rec.net) addresses.take(vmId, rec.net.address);
}
let stopping = false;
const vmEvents = new VmEvents(store, log, () => stopping);
const outputQueues = new Map<string, Promise<void>>();
let egressReporter: EgressHost | undefined;
const vmDeps: VmDeps = {
  hostId,
  bridge: c.HOSTD_BRIDGE,
  subnet: c.HOSTD_SUBNET,
  dns: guestDns,
  accel,
  exec,
  driver,
  links,
  nft,
  // A VM's last drops are read before its nft elements go (once the reporter exists: recovery at start destroys before it).
  beforeRulesRemoved: async () => egressReporter?.poll(),
  netRate,
  addresses,
  events: vmEvents,
  log,
  image: (a, name) => images.find((i) => i.arch === a && i.name === name),
  jobScript: (jobId) => readJobScript(nats, jobId),
  runnerLaunch: (rec) => requestRunnerLaunch(nats, { hostId, publicKey: key.publicKey, privateKey: key.privateKey }, rec),
  markDestroying: (p) => done.destroying(p),
  markDone: (vmId) => done.add(vmId, new Date()),
  // Console chunks in order per VM; the log stream is best effort (the console log file is the record).
  output: (rec, text, offset) => {
    const prev = outputQueues.get(rec.vmId) ?? Promise.resolve();
    const next = prev.then(() =>
      publishMessage(
        nats,
        subjects.vmLog(hostId, rec.vmId),
        { type: "VmOutput", data: { hostId, vmId: rec.vmId, jobId: rec.jobId, text, offset } },
        rec.correlationId,
      ).then(
        () => undefined,
        (err: unknown) => log.warn({ err, vmId: rec.vmId, offset }, "cannot publish console output"),
      ),
    );
    outputQueues.set(rec.vmId, next);
    void next.then(() => outputQueues.get(rec.vmId) === next && outputQueues.delete(rec.vmId));
  },
  consoleMaxBytes: c.HOSTD_CONSOLE_MAX_BYTES,
  bootTimeoutSec: c.HOSTD_BOOT_TIMEOUT,
  timeoutGraceSec: c.HOSTD_TIMEOUT_GRACE,
};
// The pool asks the agent (built just below, with the pool) whether it may fill now.
const pool = pools.length
  ? new WarmPool({
      hostId,
      stateDir,
      store,
      log: log.child({ pool: "warm" }),
      vm: vmDeps,
      pools,
      maxAgeSec: c.HOSTD_WARM_MAX_AGE_SEC,
      canFill: () => !stopping && !agent.fencingNow && !agent.flags.cordoned && !agent.flags.draining && !agent.flags.deregistered,
    })
  : undefined;
if (pool) warmPoolMetrics(svc.registry, pool);
const agent: HostAgent = new HostAgent(
  {
    hostId,
    stateDir,
    store,
    log,
    done,
    registration,
    correlationId: bootId,
    saveFlags: (f) => saveFlags(flagsPath, f),
    vm: vmDeps,
    ...(pool ? { pool } : {}),
  },
  { arch, capacity: jobCapacity, maxConcurrent: c.HOSTD_MAX_CONCURRENT_VMS, images: images.map((i) => i.name) },
  flags,
);

// Leftovers of an earlier life first, then register and take work.
await agent.recover(runDirs);
if (flags.deregistered) {
  // Drained and deregistered before this restart: it stays out until an operator uncordons it.
  log.warn({ flags }, "host was drained and deregistered: not registering (HostUncordoned brings it back)");
} else {
  await agent.register("start", `host:${hostId}:registered:${bootId}`);
  log.info(
    {
      hostId,
      arch,
      emulated,
      accel,
      vmm: driver.name,
      capacity: jobCapacity,
      warmPools: pools,
      labels,
      flags,
      startMs: Math.round(performance.now() - startedAt),
    },
    "host registered",
  );
  pool?.fill();
}

// Egress policies (docs/egress-policy.md): the DNS proxy answers each VM by its policy, and nft's
// denied counters become VmEgressDenied (polled below, once the isolation guard exists).
const egress = new EgressHost({
  hostId,
  bridge: c.HOSTD_BRIDGE,
  nft,
  store,
  log: log.child({ part: "egress" }),
  vms: () => agent.isolationTargets(),
  forbidden: () => guard.currentForbidden,
  reportIntervalMs: c.HOSTD_EGRESS_REPORT_INTERVAL * 1000,
  ...(c.HOSTD_DNS_PROXY
    ? {
        proxy: {
          listen: { address: guestDns, port: DNS_PROXY_PORT },
          upstream: { address: dns, port: 53 },
          ttl: { minSec: c.HOSTD_EGRESS_TTL_MIN_SEC, maxSec: c.HOSTD_EGRESS_TTL_MAX_SEC },
        },
      }
    : {}),
});
egressReporter = egress;
await egress.start().catch((e: Error) => fatal(`DNS proxy cannot listen on ${guestDns}:${DNS_PROXY_PORT}: ${e.message}`, e));
log.info(
  { dnsProxy: c.HOSTD_DNS_PROXY, guestDns, upstream: dns },
  c.HOSTD_DNS_PROXY ? "DNS proxy listening: the guests' only resolver" : "no DNS proxy: guests use HOSTD_DNS directly",
);

const consumer = await runDurableConsumer(nats, {
  stream: streams.events.name,
  durable: `hostd-${hostId}`,
  filterSubject: subjects.host(hostId),
  log,
  registry: svc.registry, // its lag and dead letters on /metrics
  handler: (e) => agent.handle(e),
});

// The fence lease (docs/fencing.md): VMs run here only while a heartbeat was acknowledged within
// HOSTD_FENCE_AFTER. hostd fences itself when it lapses, and so does the watchdog process when
// hostd cannot (frozen, hung): the janitor and scheduler count on it before running its jobs elsewhere.
if (c.HOSTD_FENCE_AFTER < 3 * c.HOSTD_HEARTBEAT_INTERVAL)
  fatal(
    `HOSTD_FENCE_AFTER (${c.HOSTD_FENCE_AFTER}s) must be at least 3 × HOSTD_HEARTBEAT_INTERVAL (${c.HOSTD_HEARTBEAT_INTERVAL}s): one late heartbeat must not fence the host`,
  );
const leaseMs = c.HOSTD_FENCE_AFTER * 1000;
let lease = newLease(leaseMs, performance.now());
const fenceGuard = startFenceGuard(leaseMs, log);
const checkLease = (): void => {
  const now = performance.now();
  if (!mustFence(lease, now)) return;
  lease = markFenced(lease, now);
  log.error({ leaseMs, sinceAckMs: Math.round(now - lease.renewedAt) }, "no heartbeat acknowledged within HOSTD_FENCE_AFTER: fencing this host");
  void agent
    .fence({
      trigger: "lease-expired",
      lostSeq: null,
      reason: `no heartbeat acknowledged for ${Math.round((now - lease.renewedAt) / 1000)}s (HOSTD_FENCE_AFTER ${c.HOSTD_FENCE_AFTER}s)`,
    })
    .catch((err: unknown) => log.error({ err }, "fence failed"));
};
const leaseTimer = setInterval(checkLease, 500);
const stopHeartbeat = every(
  c.HOSTD_HEARTBEAT_INTERVAL,
  "heartbeat",
  async () => {
    checkLease(); // first: after a freeze, the lapse is acted on before anything is renewed
    const { state, used } = agent.snapshot;
    const sentAt = performance.now();
    await publishMessage(
      nats,
      subjects.heartbeat(hostId),
      {
        type: "HostHeartbeat",
        data: {
          hostId,
          runningVms: state.running.length,
          used,
          capacity: jobCapacity,
          accel,
          draining: state.draining,
          uptimeSec: Math.round(process.uptime()),
          warmPools: pool?.status() ?? [],
        },
      },
      bootId,
    );
    lease = renew(lease, sentAt);
    const vmms = await driver.list().catch(() => undefined);
    fenceGuard.renew(remainingMs(lease, performance.now()), vmms ?? []);
  },
  log,
);
// Isolation must not silently go away (a firewall reload flushing the ruleset, a VPN coming
// up): every few seconds the forbidden set is read again, the tables and each VM's rules are
// measured and restored, and VMs whose isolation cannot be restored are ended (fail closed).
const guard = new IsolationGuard({
  nft,
  log,
  base: { bridge: c.HOSTD_BRIDGE, subnet: c.HOSTD_SUBNET, dns, ...(totalBytesPerSec ? { totalBytesPerSec } : {}), gatewayPorts, dnsProxy: c.HOSTD_DNS_PROXY },
  initialForbidden: net.forbidden,
  readForbidden: () => readForbidden({ exec, bridge: c.HOSTD_BRIDGE, publicRoutes: c.HOSTD_PUBLIC_ROUTES }),
  vms: () => agent.isolationTargets(),
  failClosed: (reason) => agent.failClosed(reason),
});
// A rebuilt table starts with empty sets: what the DNS proxy resolved goes back in at once.
const stopIsolationCheck = every(
  c.HOSTD_ISOLATION_CHECK_INTERVAL,
  "isolation-check",
  async () => {
    // A rebuild recreates the sets empty: the egress counters are read first, so only what was
    // dropped in the moment between the two is not reported.
    await egress.poll().catch(() => undefined);
    if ((await guard.check()).base === "rebuilt") await egress.reapply();
  },
  log,
);
const stopEgressPoll = every(Math.min(2, c.HOSTD_EGRESS_REPORT_INTERVAL), "egress-denied", () => egress.poll(), log);
const stopInventory = every(
  c.HOSTD_INVENTORY_INTERVAL,
  "inventory",
  async () => {
    const raw = await scanMachine({ hostId, bridge: c.HOSTD_BRIDGE, stateDir, driver, links, nft });
    await publishMessage(nats, subjects.inventory(hostId), { type: "HostInventory", data: assembleInventory(raw) }, bootId);
  },
  log,
);

// Stop order (closers run last-registered first): telemetry, consumer, then VMs (their
// events still need NATS), the shared network once no VM is left, then NATS (bootService's).
shutdown.add("network", async () => {
  const left = await listRunDirs(stateDir);
  const mine = (await Promise.all(left.map((v) => readRecord(runDirOf(stateDir, v))))).filter((r) => r?.hostId === hostId);
  if (mine.length) {
    log.warn({ vms: mine.map((r) => r!.vmId) }, "VMs left on the machine: keeping the bridge and isolation rules");
    return;
  }
  await nft.removeBase(c.HOSTD_BRIDGE);
  await links.remove(c.HOSTD_BRIDGE);
  log.info({ bridge: c.HOSTD_BRIDGE }, "bridge and isolation tables removed");
});
// After the VMs (they resolve until their end), before the network: the proxy, and a last poll of the denied counters.
shutdown.add("egress", () => egress.stop());
shutdown.add("registry-mirror", async () => mirror?.stop());
shutdown.add("vms", async () => {
  clearInterval(leaseTimer);
  await agent.stop();
  fenceGuard.stop();
  stopping = true;
  await Promise.all(outputQueues.values());
});
shutdown.add("consumer", () => consumer.stop());
shutdown.add("telemetry", async () => {
  await stopHeartbeat();
  await stopInventory();
  await stopIsolationCheck();
  await stopEgressPoll();
});
await svc.startOps(c.HOSTD_HTTP_PORT, [{ name: "consumer", check: () => !stopping }]);
