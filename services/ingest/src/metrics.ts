import { Counter, Histogram, type Registry } from "prom-client";

export interface IngestMetrics {
  requests: Counter<"route" | "outcome">;
  verifyFailures: Counter<"provider">;
  storeSeconds: Histogram<"route">;
  brokerRequests: Counter<"provider" | "outcome">;
}

export function ingestMetrics(registry: Registry): IngestMetrics {
  return {
    requests: new Counter({ name: "ingest_requests_total", help: "HTTP requests by route and outcome", labelNames: ["route", "outcome"], registers: [registry] }),
    verifyFailures: new Counter({ name: "ingest_verify_failures_total", help: "Webhooks whose signature or token did not verify", labelNames: ["provider"], registers: [registry] }),
    storeSeconds: new Histogram({
      name: "ingest_store_seconds", help: "Time to read the job's history and store the event", labelNames: ["route"], registers: [registry],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    }),
    brokerRequests: new Counter({ name: "ingest_runner_config_requests_total", help: "Runner config requests by provider and outcome", labelNames: ["provider", "outcome"], registers: [registry] }),
  };
}
