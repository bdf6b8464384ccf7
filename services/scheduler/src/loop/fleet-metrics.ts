import { subjects, type DomainEvent, type Stored } from "@oneshot/proto";
import type { EventStore, Logger } from "@oneshot/runtime";
// prom-client comes with @oneshot/runtime (as in metrics.ts); the registry is the service's.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { SchedulerState } from "../core/state.js";

/**
 * What an operator watches the fleet by, read from the scheduler's projection and the live log
 * (deploy/grafana/oneshot-dashboard.json draws them): queue depth per org and label, each host's
 * capacity and reservations, pickup latency, boot failures and how far this reader is behind.
 */

/** The label a queue is known by: a job's `oneshot…` runs-on labels (its size), else all of them, else `-` (local jobs). */
export const queueLabel = (labels: string[]): string => labels.filter((l) => l.startsWith("oneshot")).join(",") || labels.join(",") || "-";

/** Jobs waiting for a VM (pending, or released and not yet placed again), per org and label. */
export function queueDepth(s: SchedulerState): { org: string; label: string; count: number }[] {
  const rows = new Map<string, { org: string; label: string; count: number }>();
  for (const ids of [s.pending, s.released]) {
    for (const id of ids) {
      const j = s.jobs.get(id);
      if (!j) continue;
      const label = queueLabel(j.labels);
      const key = `${j.org}\u0000${label}`;
      const row = rows.get(key) ?? { org: j.org, label, count: 0 };
      row.count++;
      rows.set(key, row);
    }
  }
  return [...rows.values()];
}

/** Each registered host's capacity and what is reserved on it, per resource. */
export function hostUtilisation(s: SchedulerState): { hostId: string; resource: "vcpus" | "mem_mib" | "disk_gib"; capacity: number; reserved: number }[] {
  return [...s.hosts.values()]
    .filter((h) => !h.deregistered)
    .flatMap((h) => [
      { hostId: h.hostId, resource: "vcpus" as const, capacity: h.capacity.vcpus, reserved: h.used.vcpus },
      { hostId: h.hostId, resource: "mem_mib" as const, capacity: h.capacity.memMiB, reserved: h.used.memMiB },
      { hostId: h.hostId, resource: "disk_gib" as const, capacity: h.capacity.diskGiB, reserved: h.used.diskGiB },
    ]);
}

/**
 * Pickup latency: from a job's first JobQueued to the moment it began, by the events' own times.
 * A provider job begins when a runner takes it (JobStarted); a local job when the VM placed for
 * it booted (its script runs at once). The first of the two counts; jobs queued before this
 * tracker started are not measured.
 */
export class PickupTracker {
  private readonly queuedAt = new Map<string, number>();
  private readonly localVms = new Map<string, string>();

  see(e: Stored<DomainEvent>): { kind: "runner" | "local"; seconds: number } | undefined {
    const at = Date.parse(e.occurredAt);
    switch (e.type) {
      case "JobQueued":
        if (!this.queuedAt.has(e.data.jobId)) this.queuedAt.set(e.data.jobId, at);
        return undefined;
      case "JobScheduled":
        if (e.data.script !== undefined && this.queuedAt.has(e.data.jobId)) this.localVms.set(e.data.vmId, e.data.jobId);
        return undefined;
      case "VmBooted": {
        const jobId = this.localVms.get(e.data.vmId);
        this.localVms.delete(e.data.vmId);
        return jobId ? this.begun(jobId, at, "local") : undefined;
      }
      case "JobStarted":
        return this.begun(e.data.jobId, at, "runner");
      case "JobCompleted":
      case "JobCancelled":
      case "JobFailed":
      case "JobIgnored":
        this.queuedAt.delete(e.data.jobId);
        return undefined;
      default:
        return undefined;
    }
  }

  /** Jobs still waiting to begin (the tracker's memory). */
  get size(): number {
    return this.queuedAt.size;
  }

  private begun(jobId: string, at: number, kind: "runner" | "local") {
    const queued = this.queuedAt.get(jobId);
    if (queued === undefined) return undefined;
    this.queuedAt.delete(jobId);
    // Two writers' clocks: a negative gap is skew (`oneshot doctor` measures it), not time travel.
    return { kind, seconds: Math.max(0, (at - queued) / 1000) };
  }
}

/** Registers the fleet gauges (read at each scrape) and follows the log from its end for the live ones. */
export async function startFleetMetrics(o: { registry: Registry; store: EventStore; state: () => SchedulerState; log: Logger }): Promise<() => Promise<void>> {
  const registers = [o.registry];
  const { state, store } = o;
  new Gauge({
    name: "scheduler_queue_depth",
    help: "Jobs waiting for a VM, by org and runs-on label (the oneshot size label)",
    labelNames: ["org", "label"],
    registers,
    collect() {
      this.reset();
      for (const r of queueDepth(state())) this.set({ org: r.org, label: r.label }, r.count);
    },
  });
  // Each gauge fills itself at its own collect: a scrape serialises the metrics concurrently, so
  // one gauge setting another's values shows them a scrape late (or, on the first, not at all).
  const hostGauge = (name: string, help: string, field: "capacity" | "reserved") =>
    new Gauge({
      name,
      help,
      labelNames: ["host_id", "resource"],
      registers,
      collect() {
        this.reset();
        for (const r of hostUtilisation(state())) this.set({ host_id: r.hostId, resource: r.resource }, r[field]);
      },
    });
  hostGauge("scheduler_host_capacity", "What each registered host offers, by resource (vcpus, mem_mib, disk_gib)", "capacity");
  hostGauge("scheduler_host_reserved", "What is reserved on each registered host by live VMs, by resource", "reserved");
  new Gauge({
    name: "scheduler_log_lag_events",
    help: "Events in EVENTS this scheduler has not applied yet (its consumer lag)",
    registers,
    async collect() {
      const last = await store.lastStreamSeq().catch(() => undefined);
      if (last !== undefined) this.set(Math.max(0, last - state().lastSeq));
    },
  });
  const pickup = new Histogram({
    name: "scheduler_pickup_seconds",
    help: "From a job's JobQueued until it began: a runner took it (kind=runner) or its VM booted (kind=local)",
    labelNames: ["kind"],
    buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800],
    registers,
  });
  const bootFailures = new Counter({
    name: "scheduler_boot_failures_total",
    help: "VmBootFailed events seen in the log, by host and failure code",
    labelNames: ["host_id", "code"],
    registers,
  });
  const boots = new Counter({ name: "scheduler_boots_total", help: "VmBooted events seen in the log, by host", labelNames: ["host_id"], registers });
  const tracker = new PickupTracker();
  return store.follow(
    subjects.allEvents,
    (e) => {
      const p = tracker.see(e);
      if (p) pickup.observe({ kind: p.kind }, p.seconds);
      if (e.type === "VmBootFailed") bootFailures.inc({ host_id: e.data.hostId, code: e.data.code });
      if (e.type === "VmBooted") boots.inc({ host_id: e.data.hostId });
    },
    {
      startSeq: (await store.lastStreamSeq()) + 1,
      onError: (e) => o.log.warn({ err: e }, "fleet metrics stopped following the log"),
    },
  );
}
