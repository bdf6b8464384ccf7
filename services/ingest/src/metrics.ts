import { Counter, Histogram, type Registry } from "prom-client";

export interface IngestMetrics {
  requests: Counter<"route" | "outcome">;
  verifyFailures: Counter<"provider">;
  storeSeconds: Histogram<"route">;
  decisions: Counter<"provider" | "result">;
  foreignDeliveries: Counter<"provider">;
  brokerRequests: Counter<"provider" | "outcome">;
  brokerSeconds: Histogram<"provider">;
}

const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function ingestMetrics(registry: Registry): IngestMetrics {
  const registers = [registry];
  return {
    requests: new Counter({
      name: "ingest_requests_total",
      help: "HTTP requests by route and outcome (status code)",
      labelNames: ["route", "outcome"],
      registers,
    }),
    verifyFailures: new Counter({
      name: "ingest_verify_failures_total",
      help: "Webhooks or API calls whose signature, token or bearer did not verify",
      labelNames: ["provider"],
      registers,
    }),
    storeSeconds: new Histogram({
      name: "ingest_store_seconds",
      help: "Reading the job's history and storing its event, until JetStream's ack",
      labelNames: ["route"],
      registers,
      buckets: latencyBuckets,
    }),
    decisions: new Counter({
      name: "ingest_decisions_total",
      help: "What deliveries led to: the stored event type, or none",
      labelNames: ["provider", "result"],
      registers,
    }),
    foreignDeliveries: new Counter({
      name: "ingest_foreign_deliveries_total",
      help: "Deliveries for jobs with no oneshot label: counted and kept a few days, not stored as events",
      labelNames: ["provider"],
      registers,
    }),
    brokerRequests: new Counter({
      name: "ingest_runner_config_requests_total",
      help: "Runner config requests by provider and outcome (ok or error code)",
      labelNames: ["provider", "outcome"],
      registers,
    }),
    brokerSeconds: new Histogram({
      name: "ingest_runner_config_seconds",
      help: "Time to check a runner config request and mint the config",
      labelNames: ["provider"],
      registers,
      buckets: latencyBuckets,
    }),
  };
}
