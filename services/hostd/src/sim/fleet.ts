import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { DomainEvent, Resources, Stored } from "@oneshot/proto";
import { connectNats, type Logger, type Nats } from "@oneshot/runtime";
import { startSimHost, writeSimImage, type SimHost } from "./sim-host.js";
import type { SimGuestModel } from "./sim-vmm.js";

export interface FleetOptions {
  /** NATS_URL (comma-separated for a cluster). */
  natsUrl: string;
  /**
   * One identity for the whole fleet (password login): it must be allowed what every sim
   * host's hostd identity is allowed, for all of them (an admin, or a no-auth server). A real
   * deployment gives each hostd its own identity; the fleet shares a few connections instead.
   */
  user?: string;
  password?: string;
  hosts: number;
  /** NATS connections the hosts are spread over (host i uses connection i mod n). */
  connections: number;
  /** Host ids are `<prefix>-<i>` (i from 0, zero-padded to 4). */
  prefix: string;
  /** Root of every host's state dir (`<dir>/<hostId>`); the same dir resumes the same hosts. */
  dir: string;
  capacity: Resources;
  maxConcurrent: number;
  guest: SimGuestModel;
  heartbeatSec?: number;
  fenceAfterSec?: number;
  inventorySec?: number;
  onEvent?: (hostId: string, e: Stored<DomainEvent>) => void;
  log: Logger;
  /** Hosts starting at once. */
  startConcurrency?: number;
}

export interface FleetStats {
  hosts: number;
  vmsStarted: number;
  vmsRunning: number;
  /** Simulated taps and nft rule sets still present (a VM not fully destroyed). */
  tapsLeft: number;
  rulesLeft: number;
  queued: number;
}

export interface Fleet {
  hosts: SimHost[];
  connections: Nats[];
  stats(): FleetStats;
  stop(): Promise<void>;
}

export const simHostId = (prefix: string, i: number): string => `${prefix}-${String(i).padStart(4, "0")}`;

/** Draws uniformly from [min, max] (the simulation's own randomness; not domain logic). */
export const uniform = (min: number, max: number) => (): number => min + Math.random() * (max - min);

/**
 * Starts `hosts` real host agents on simulated machines in this process. Each host's durable
 * consumer `hostd-<h>` must exist (an operator's step: `provisionAll`/`provisionHost`, or
 * fleet-main's `--provision`); runDurableConsumer would otherwise create it from the start of
 * the log.
 */
export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const connections: Nats[] = [];
  for (let i = 0; i < Math.max(1, o.connections); i++) {
    connections.push(
      await connectNats(
        { url: o.natsUrl, name: `sim-fleet-${i}`, user: o.user, password: o.password, firstConnectTimeoutMs: 30_000 },
        o.log.child({ conn: i }),
      ),
    );
  }
  await mkdir(o.dir, { recursive: true });
  const baseImage = await writeSimImage(join(o.dir, "sim-image.raw"));
  const hosts: SimHost[] = new Array(o.hosts);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= o.hosts) return;
      const hostId = simHostId(o.prefix, i);
      const nats = connections[i % connections.length]!;
      hosts[i] = await startSimHost({
        hostId,
        dir: join(o.dir, hostId),
        nats,
        log: o.log.child({ hostId }),
        capacity: o.capacity,
        maxConcurrent: o.maxConcurrent,
        guest: o.guest,
        baseImage,
        heartbeatSec: o.heartbeatSec ?? 5,
        fenceAfterSec: o.fenceAfterSec ?? 30,
        inventorySec: o.inventorySec ?? 30,
        ...(o.onEvent ? { onEvent: o.onEvent } : {}),
      });
    }
  };
  await Promise.all(Array.from({ length: o.startConcurrency ?? 32 }, worker));
  return {
    hosts,
    connections,
    stats: () => ({
      hosts: hosts.length,
      vmsStarted: hosts.reduce((n, h) => n + h.vmm.started, 0),
      vmsRunning: hosts.reduce((n, h) => n + h.vmm.running, 0),
      tapsLeft: hosts.reduce((n, h) => n + h.links.taps().length, 0),
      rulesLeft: hosts.reduce((n, h) => n + h.nft.vms().length, 0),
      queued: hosts.reduce((n, h) => n + h.agent.snapshot.state.queue.length, 0),
    }),
    stop: async () => {
      await Promise.all(hosts.map((h) => h.stop().catch((err: unknown) => o.log.error({ err, hostId: h.hostId }, "sim host stop failed"))));
      for (const c of connections) await c.nc.drain().catch(() => undefined);
    },
  };
}
