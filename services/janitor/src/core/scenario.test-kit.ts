// Given/when/then helpers for the core's unit tests: a log built event by event at given
// seconds, telemetry per host, and default settings. Times are seconds from T0.
import type { DomainEvent, HostInventory, Stored } from "@oneshot/proto";
import { evolve, initialDesired, type DesiredState } from "./desired-state.js";
import { observeHeartbeat, observeInventory, type ObservedHost } from "./observed-state.js";
import type { LeakSettings } from "./plan.js";

export const T0 = Date.parse("2026-11-28T10:00:00.000Z");
export const sec = (s: number): number => T0 + s * 1000;

export const settings: LeakSettings = {
  bootGraceMs: 120_000,
  destroyGraceMs: 10_000,
  staleAfterMs: 60_000,
  reclaimTimeoutMs: 60_000,
  maxReclaimAttempts: 3,
};

const spec = { arch: "amd64", vcpus: 1, memMiB: 256, diskGiB: 1, image: "minimal", timeoutSec: 600 } as const;
const source = { provider: "local" as const, repo: "local", org: "local", providerJobId: "x", labels: [] as string[] };

export interface Placement {
  timeoutSec?: number;
  attempt?: number;
  script?: string;
}

/** An event log under construction. */
export class Log {
  private seq = 0;
  readonly events: Stored<DomainEvent>[] = [];

  add(atSec: number, event: DomainEvent): this {
    this.seq++;
    this.events.push({
      ...event,
      id: `e${this.seq}`,
      version: 1,
      occurredAt: new Date(sec(atSec)).toISOString(),
      correlationId: "c",
      causationId: null,
      subject: "evt.test",
      seq: this.seq,
    } as Stored<DomainEvent>);
    return this;
  }

  registered(atSec: number, hostId: string): this {
    return this.add(atSec, {
      type: "HostRegistered",
      data: {
        hostId,
        arch: "amd64",
        capacity: { vcpus: 8, memMiB: 8192, diskGiB: 100 },
        labels: [],
        vmm: "qemu",
        accel: "tcg",
        emulated: false,
        images: ["minimal"],
        publicKey: "k",
        version: "t",
      },
    });
  }

  queued(atSec: number, jobId: string): this {
    return this.add(atSec, { type: "JobQueued", data: { jobId, source: { ...source, providerJobId: jobId }, spec } });
  }

  /** `script`: a local job, bound to its VM. */
  scheduled(atSec: number, jobId: string, vmId: string, hostId: string, o: Placement = {}): this {
    const data = { jobId, vmId, hostId, spec: { ...spec, timeoutSec: o.timeoutSec ?? 600 }, attempt: o.attempt ?? 0 };
    return this.add(atSec, { type: "JobScheduled", data: o.script === undefined ? data : { ...data, script: o.script } });
  }

  /** The provider says `jobId` started on the runner of `vmId` (hostId may be absent, as from a bare runner name). */
  started(atSec: number, jobId: string, vmId: string, hostId?: string): this {
    return this.add(atSec, {
      type: "JobStarted",
      data: { jobId, runnerName: `oneshot-${hostId ?? "h"}-${vmId}`, vmId, ...(hostId ? { hostId } : {}), reportedBy: "webhook" },
    });
  }

  completed(atSec: number, jobId: string): this {
    return this.add(atSec, { type: "JobCompleted", data: { jobId, conclusion: "success", exitCode: 0, reportedBy: "provider" } });
  }

  rebound(atSec: number, jobId: string, vmId: string, hostId: string, fromVmId?: string): this {
    return this.add(atSec, { type: "JobRebound", data: { jobId, vmId, hostId, ...(fromVmId ? { fromVmId } : {}), reason: "free VM covers it" } });
  }

  bootRequested(atSec: number, jobId: string, vmId: string, hostId: string): this {
    return this.add(atSec, { type: "VmBootRequested", data: { jobId, vmId, hostId, tap: `os-${vmId}`, disks: [] } });
  }

  booted(atSec: number, jobId: string, vmId: string, hostId: string): this {
    const timings = { diskMs: 1, configMs: 1, netMs: 1, vmmStartMs: 1, agentReadyMs: 1, totalMs: 5 };
    return this.add(atSec, { type: "VmBooted", data: { jobId, vmId, hostId, vmm: "qemu", accel: "tcg", pid: 42, timings } });
  }

  /** Queued, placed, boot requested and booted: a VM whose runner has taken nothing yet. */
  bootedFor(atSec: number, jobId: string, vmId: string, hostId: string, o: Placement = {}): this {
    return this.queued(atSec, jobId).scheduled(atSec, jobId, vmId, hostId, o).bootRequested(atSec, jobId, vmId, hostId).booted(atSec, jobId, vmId, hostId);
  }

  /** Booted and running its own job: started on it (provider jobs), or bound to it (`script`: local jobs). */
  running(atSec: number, jobId: string, vmId: string, hostId: string, o: Placement = {}): this {
    this.bootedFor(atSec, jobId, vmId, hostId, o);
    return o.script === undefined ? this.started(atSec, jobId, vmId, hostId) : this;
  }

  desired(): DesiredState {
    return this.events.reduce(evolve, initialDesired());
  }
}

export type Inv = Partial<Omit<HostInventory["data"], "vms" | "hostId">> & { vms?: string[] };

/** Everything hostd would report for a VM: process, tap, disks, nft rule, run dir. */
export const allOf = (vmId: string): Inv => ({
  vms: [vmId],
  taps: [`os-${vmId}`],
  nftRules: [`oneshot:${vmId}`],
  disks: [`/var/lib/oneshot/hostd/vms/${vmId}/root.qcow2`, `/var/lib/oneshot/hostd/vms/${vmId}/config.ext4`],
  runDirs: [`/var/lib/oneshot/hostd/vms/${vmId}`],
});

export const merge = (...invs: Inv[]): Inv => ({
  vms: invs.flatMap((i) => i.vms ?? []),
  taps: invs.flatMap((i) => i.taps ?? []),
  disks: invs.flatMap((i) => i.disks ?? []),
  nftRules: invs.flatMap((i) => i.nftRules ?? []),
  runDirs: invs.flatMap((i) => i.runDirs ?? []),
});

/** Telemetry as the janitor has read it. */
export class Telemetry {
  private invSeq = 0;
  readonly hosts = new Map<string, ObservedHost>();

  heartbeat(hostId: string, atSec: number): this {
    this.hosts.set(hostId, observeHeartbeat(this.hosts.get(hostId), hostId, sec(atSec)));
    return this;
  }

  /** An inventory taken at `atSec` (and a heartbeat with it, like a live hostd). */
  inventory(hostId: string, atSec: number, inv: Inv, seq = ++this.invSeq): this {
    const data: HostInventory["data"] = {
      hostId,
      vms: (inv.vms ?? []).map((vmId) => ({ vmId, pid: 1000 })),
      taps: inv.taps ?? [],
      disks: inv.disks ?? [],
      nftRules: inv.nftRules ?? [],
      runDirs: inv.runDirs ?? [],
    };
    this.hosts.set(hostId, observeInventory(this.hosts.get(hostId), data, sec(atSec), seq));
    return this.heartbeat(hostId, atSec);
  }
}
