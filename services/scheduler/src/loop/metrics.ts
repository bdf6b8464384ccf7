// prom-client comes with @oneshot/runtime (as in the janitor); the registry is the service's.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export function schedulerMetrics(registry: Registry) {
  const registers = [registry];
  return {
    placements: new Counter({ name: "scheduler_placements_total", help: "JobScheduled appended by this instance (duplicates not counted)", registers }),
    decisions: new Counter({ name: "scheduler_decisions_total", help: "Events this instance appended, by type", labelNames: ["type"], registers }),
    conflicts: new Counter({
      name: "scheduler_conflicts_total",
      help: "Appends refused because the subject moved on (another writer first): refresh and decide again",
      registers,
    }),
    duplicates: new Counter({ name: "scheduler_duplicates_total", help: "Decisions JetStream already held (another scheduler made the same one)", registers }),
    appendErrors: new Counter({ name: "scheduler_append_errors_total", help: "Appends that failed for another reason (NATS unavailable…)", registers }),
    pending: new Gauge({ name: "scheduler_pending_jobs", help: "Jobs waiting for a placement", registers }),
    decisionSeconds: new Histogram({
      name: "scheduler_decision_seconds",
      help: "One decision round: place() on the current state, then its appends",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    placeSeconds: new Histogram({
      name: "scheduler_place_seconds",
      help: "The pure place() call of a decision round",
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5],
      registers,
    }),
    logSeq: new Gauge({ name: "scheduler_log_seq", help: "Last EVENTS sequence this instance has read", registers }),
    leader: new Gauge({ name: "scheduler_leader", help: "1 while this instance holds the scheduler lease and decides, 0 while it stands by", registers }),
    replayEventsPerSec: new Gauge({ name: "scheduler_replay_events_per_second", help: "Replay rate at start", registers }),
  };
}
export type SchedulerMetrics = ReturnType<typeof schedulerMetrics>;
