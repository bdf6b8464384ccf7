import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** Everything the janitor exports on /metrics. */
export function janitorMetrics(registry: Registry) {
  const registers = [registry];
  return {
    leader: new Gauge({ name: "janitor_is_leader", help: "1 while this instance holds the janitor lease and acts", registers }),
    appends: new Counter({
      name: "janitor_appends_total",
      help: "Every append this instance made (a standby makes none), by event type and whether JetStream stored it or dropped it as a duplicate",
      labelNames: ["type", "outcome"],
      registers,
    }),
    reclaimsRequested: new Counter({
      name: "janitor_reclaims_requested_total",
      help: "ReclaimRequested events appended (duplicates not counted), by leak cause",
      labelNames: ["cause"],
      registers,
    }),
    resourcesRequested: new Counter({
      name: "janitor_resources_requested_total",
      help: "Resources named in appended reclaim requests, by kind",
      labelNames: ["kind"],
      registers,
    }),
    reclaimStuck: new Counter({
      name: "janitor_reclaim_stuck_total",
      help: "Reclaims that did not take (no answer, failed, or still reported after the answer)",
      labelNames: ["why", "kind"],
      registers,
    }),
    hostsLost: new Counter({ name: "janitor_hosts_lost_total", help: "HostLost events appended", registers }),
    leasesExpired: new Counter({
      name: "janitor_host_leases_expired_total",
      help: "HostLeaseExpired facts appended: lost hosts that did not report their fence within JANITOR_FENCE_WAIT",
      registers,
    }),
    placementsExpired: new Counter({
      name: "janitor_placements_expired_total",
      help: "PlacementExpired facts appended: placements no host claimed within JANITOR_PLACEMENT_TIMEOUT",
      registers,
    }),
    vmsVanished: new Counter({
      name: "janitor_vms_vanished_total",
      help: "VmVanished facts appended (duplicates not counted): VMs the log held live that their host no longer had",
      registers,
    }),
    tickErrors: new Counter({ name: "janitor_tick_errors_total", help: "Ticks that failed (NATS unavailable…)", registers }),
    waiting: new Gauge({
      name: "janitor_leaks_in_grace",
      help: "Leaked resources still inside their grace period, by cause",
      labelNames: ["cause"],
      registers,
    }),
    tick: new Histogram({
      name: "janitor_tick_seconds",
      help: "Time to compare the log with every inventory and act",
      buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10],
      registers,
    }),
    replay: new Gauge({ name: "janitor_replay_events_per_second", help: "Event log replay rate at start", registers }),
  };
}
export type JanitorMetrics = ReturnType<typeof janitorMetrics>;
