import { Counter, Gauge, type Registry } from "prom-client";

export interface ReconcileMetrics {
  apiCalls: Counter<"provider" | "endpoint" | "status">;
  budgetRemaining: Gauge<"provider">;
  decisions: Counter<"kind">;
  redeliveries: Counter;
  lagSeconds: Gauge;
  leader: Gauge;
}

/** Registered on ingest's registry (served at /metrics with the rest of ingest's). */
export function reconcileMetrics(registry: Registry): ReconcileMetrics {
  const registers = [registry];
  return {
    apiCalls: new Counter({
      name: "reconcile_api_calls_total",
      help: "Provider API calls by endpoint (method and path template) and status (0: no answer)",
      labelNames: ["provider", "endpoint", "status"],
      registers,
    }),
    budgetRemaining: new Gauge({
      name: "reconcile_budget_remaining",
      help: "Calls the reconciler may still make now on the key it used last (0 while the provider asked us to wait)",
      labelNames: ["provider"],
      registers,
    }),
    decisions: new Counter({
      name: "reconcile_decisions_total",
      help: "Reconciler decisions: started, completed, cancelled, retired, busy, redelivered, none, stuck, conflict, error",
      labelNames: ["kind"],
      registers,
    }),
    redeliveries: new Counter({ name: "reconcile_redeliveries_total", help: "Failed webhook deliveries asked to be redelivered", registers }),
    lagSeconds: new Gauge({
      name: "reconcile_lag_seconds",
      help: "Seconds since the last complete reconcile pass began (alert above twice RECONCILE_INTERVAL)",
      registers,
    }),
    leader: new Gauge({ name: "reconcile_leader", help: "1 while this ingest replica holds the reconcile lease", registers }),
  };
}
