import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { streams, subjects, type DomainEvent, type HostRegistered, type Resources, type Stored } from "@oneshot/proto";
import { EventStore, newEventId, publishMessage, runDurableConsumer, type Logger, type Nats } from "@oneshot/runtime";
import { fenced as markFenced, mustFence, newLease, renew } from "../agent/fence-lease.js";
import { HostAgent } from "../agent/host-agent.js";
import { loadFlags, saveFlags } from "../agent/host-flags.js";
import { readJobScript } from "../agent/job-inputs.js";
import { loadOrCreateHostKey } from "../host/host-key.js";
import { AddressPool } from "../net/address-pool.js";
import { assembleInventory, scanMachine } from "../telemetry/inventory.js";
import { every } from "../telemetry/loop.js";
import { DoneLog } from "../vm/done-log.js";
import { listRunDirs, vmsDir } from "../vm/run-dir.js";
import { VmEvents } from "../vm/vm-events.js";
import { SimLinks, SimNft } from "./sim-network.js";
import { simDiskExec } from "./sim-disk.js";
import { SimVmm, type SimGuestModel } from "./sim-vmm.js";

export interface SimHostOptions {
  hostId: string;
  /** This host's own directory (its state dir: run dirs, done log, flags, host key). */
  dir: string;
  nats: Nats;
  log: Logger;
  capacity: Resources;
  maxConcurrent: number;
  guest: SimGuestModel;
  /** The base image file every root disk is "copied" from (any small file). */
  baseImage: string;
  heartbeatSec: number;
  fenceAfterSec: number;
  inventorySec: number;
  /** Called when this host's consumer hands it an event (before hostd handles it): observation only. */
  onEvent?: (hostId: string, e: Stored<DomainEvent>) => void;
}

export interface SimHost {
  hostId: string;
  agent: HostAgent;
  vmm: SimVmm;
  links: SimLinks;
  nft: SimNft;
  /** Stops telemetry, the consumer, then the VMs (as hostd's shutdown does). */
  stop(): Promise<void>;
}

const VERSION = "0.1.0-sim";
const BRIDGE = "ossim0";
const SUBNET = "172.30.0.0/20";

/**
 * One host as hostd's main.ts builds it, with the simulation's VMM, network and disk adapters
 * in place of QEMU/Firecracker, iproute2/nft and qemu-img/mkfs: the same HostAgent, VmRunner,
 * VmEvents, DoneLog, fence lease, registration (on `evt.host.<h>.self`), durable consumer
 * `hostd-<h>` on `evt.host.<h>`, heartbeats and inventories. Not here: the fence watchdog
 * process (it kills VMM pids; simulated VMs have none), the isolation guard (no nft), the KVM
 * probe and the ops HTTP server.
 */
export async function startSimHost(o: SimHostOptions): Promise<SimHost> {
  const { hostId, dir: stateDir, nats, log } = o;
  const store = new EventStore(nats.js, nats.jsm);
  const bootId = newEventId();
  await mkdir(vmsDir(stateDir), { recursive: true, mode: 0o700 });
  const key = await loadOrCreateHostKey(join(stateDir, "host-key.pem"));
  const vmm = new SimVmm(o.guest);
  const links = new SimLinks(BRIDGE, "172.30.0.1/20");
  const nft = new SimNft();
  const labels = ["arch:amd64", "vmm:qemu", "accel:tcg", "sim"];
  const registration = (): HostRegistered["data"] => ({
    hostId,
    arch: "amd64",
    capacity: o.capacity,
    labels,
    vmm: vmm.name,
    accel: "tcg",
    emulated: false,
    images: ["minimal"],
    publicKey: key.publicKey,
    version: VERSION,
  });
  const image = { name: "minimal", arch: "amd64" as const, kernel: o.baseImage, initrd: o.baseImage, rootfs: o.baseImage };
  const flagsPath = join(stateDir, "flags.json");
  const flags = await loadFlags(flagsPath);
  const done = new DoneLog(join(stateDir, "done-vms"));
  await done.load(new Date());
  let stopping = false;
  const agent = new HostAgent(
    {
      hostId,
      stateDir,
      store,
      log,
      done,
      registration,
      correlationId: bootId,
      saveFlags: (f) => saveFlags(flagsPath, f),
      vm: {
        hostId,
        bridge: BRIDGE,
        subnet: SUBNET,
        dns: "1.1.1.1",
        accel: "tcg",
        exec: simDiskExec,
        driver: vmm,
        links,
        nft,
        netRate: { policy: { defaultMbit: 200, maxMbit: 1000, totalMbit: 0 }, shared: false },
        addresses: new AddressPool(SUBNET),
        events: new VmEvents(store, log, () => stopping),
        log,
        image: (a, name) => (a === "amd64" && name === "minimal" ? image : undefined),
        jobScript: (jobId) => readJobScript(nats, jobId),
        runnerLaunch: () => Promise.reject(new Error("a simulated host runs local (script) jobs only")),
        markDestroying: (p) => done.destroying(p),
        markDone: (vmId) => done.add(vmId, new Date()),
        // Console chunks are published as hostd does (best effort).
        output: (rec, text, offset) =>
          void publishMessage(
            nats,
            subjects.vmLog(hostId, rec.vmId),
            { type: "VmOutput", data: { hostId, vmId: rec.vmId, jobId: rec.jobId, text, offset } },
            rec.correlationId,
          ).catch(() => undefined),
        consoleMaxBytes: 64 * 1024,
        bootTimeoutSec: 120,
        timeoutGraceSec: 5,
        poweroffGraceMs: 2_000,
      },
    },
    { arch: "amd64", capacity: o.capacity, maxConcurrent: o.maxConcurrent, images: ["minimal"] },
    flags,
  );
  await agent.recover(await listRunDirs(stateDir));
  if (!flags.deregistered) await agent.register("start", `host:${hostId}:registered:${bootId}`);
  const consumer = await runDurableConsumer(nats, {
    stream: streams.events.name,
    durable: `hostd-${hostId}`,
    filterSubject: subjects.host(hostId),
    log,
    handler: (e) => {
      o.onEvent?.(hostId, e);
      return agent.handle(e);
    },
  });

  // The fence lease as main.ts keeps it: no acknowledged heartbeat within fenceAfterSec → fence.
  const leaseMs = o.fenceAfterSec * 1000;
  let lease = newLease(leaseMs, performance.now());
  const checkLease = (): void => {
    const now = performance.now();
    if (!mustFence(lease, now)) return;
    lease = markFenced(lease, now);
    log.error({ leaseMs }, "no heartbeat acknowledged within the fence lease: fencing this host");
    void agent
      .fence({ trigger: "lease-expired", lostSeq: null, reason: `no heartbeat acknowledged for ${Math.round((now - lease.renewedAt) / 1000)}s` })
      .catch((err: unknown) => log.error({ err }, "fence failed"));
  };
  const leaseTimer = setInterval(checkLease, 500);
  const stopHeartbeat = every(
    o.heartbeatSec,
    "heartbeat",
    async () => {
      checkLease();
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
            capacity: o.capacity,
            accel: "tcg",
            draining: state.draining,
            uptimeSec: Math.round(process.uptime()),
          },
        },
        bootId,
      );
      lease = renew(lease, sentAt);
    },
    log,
  );
  const stopInventory = every(
    o.inventorySec,
    "inventory",
    async () => {
      const raw = await scanMachine({ hostId, bridge: BRIDGE, stateDir, driver: vmm, links, nft });
      await publishMessage(nats, subjects.inventory(hostId), { type: "HostInventory", data: assembleInventory(raw) }, bootId);
    },
    log,
  );

  return {
    hostId,
    agent,
    vmm,
    links,
    nft,
    stop: async () => {
      await stopHeartbeat();
      await stopInventory();
      await consumer.stop();
      clearInterval(leaseTimer);
      await agent.stop();
      stopping = true;
    },
  };
}

/** A small stand-in for the guest image (the disk adapter only checks it exists). */
export async function writeSimImage(path: string): Promise<string> {
  await writeFile(path, "simulated guest image\n");
  return path;
}
