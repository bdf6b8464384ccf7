import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing } from "@oneshot/testing";
import { startUp, type UpStack } from "../packages/cli/src/e2e/harness.js";
import { dashboardQueries, exportedNames, metricNames } from "./promql-names.js";

// The dashboard may only draw what the services really export: a whole stack is started as a
// user starts it (`oneshot up`: NATS with TLS and NKeys, ingest, scheduler, janitor, hostd as
// root with its bridge, …), a job runs through it so the histograms have samples, and every
// service's real /metrics is scraped. No source is grepped.
const skip = missing("nats", "root", "qemu-x86", "nft");
const dashboard = JSON.parse(readFileSync(join(import.meta.dirname, "grafana", "oneshot-dashboard.json"), "utf8"));
/** Series Prometheus makes itself for every target, not exported by any service. */
const PROMETHEUS_OWN = new Set(["up"]);

/** The value of the sample of `name` whose labels include `labels` (in any order), or undefined. */
function value(text: string, name: string, labels: Record<string, string>): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

/** Each service's metrics port, from the line it logs once it listens (oneshot up may move a port that is taken). */
function opsPorts(state: string): Map<string, number> {
  const ports = new Map<string, number>();
  for (const f of readdirSync(join(state, "logs")).filter((n) => n.endsWith(".log"))) {
    for (const line of readFileSync(join(state, "logs", f), "utf8").split("\n")) {
      if (!line.startsWith("{")) continue;
      const l = JSON.parse(line) as { msg?: string; port?: number; opsPort?: number };
      const port = l.msg === "health and metrics listening" ? l.port : l.msg === "ingest listening" ? l.opsPort : undefined;
      if (port) ports.set(f.replace(/\.log$/, ""), port);
    }
  }
  return ports;
}

describe.skipIf(skip)("the Grafana dashboard reads only metrics the running services export", () => {
  let stack: UpStack;
  const scraped = new Map<string, string>();

  beforeAll(async () => {
    stack = await startUp();
    // One job through the whole path: pickup latency, boots, placements get samples.
    const run = await stack.cli(["run", "--", "true"]);
    expect(run.code, run.stderr).toBe(0);
    for (const [service, port] of opsPorts(stack.state)) {
      const r = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(r.status, `${service} /metrics`).toBe(200);
      scraped.set(service, await r.text());
    }
  });
  afterAll(async () => void (await stack?.stop()));

  it("scraped every service of the stack", () => {
    expect([...scraped.keys()]).toEqual(expect.arrayContaining(["ingest", "scheduler", "janitor", "hostd-amd64"]));
  });

  it("every metric a panel or a template variable queries is exported by some service", () => {
    const exported = new Map<string, string[]>();
    for (const [service, text] of scraped) for (const n of exportedNames(text)) exported.set(n, [...(exported.get(n) ?? []), service]);
    const { exprs, templateMetrics } = dashboardQueries(dashboard);
    const used = [...new Set([...exprs.flatMap(metricNames), ...templateMetrics])].sort();
    const missingNames = used.filter((n) => !exported.has(n) && !PROMETHEUS_OWN.has(n));
    expect(missingNames).toEqual([]);
    console.log(`dashboard: ${exprs.length} queries over ${used.length} metrics, all exported (${scraped.size} services scraped)`);
  });

  it("the job that ran shows up where the dashboard looks: pickup latency, boots, host capacity, consumer lag", () => {
    const scheduler = scraped.get("scheduler")!;
    const hostd = scraped.get("hostd-amd64")!;
    // What this test reads, printed: a failure shows the samples it looked among.
    for (const [name, text] of [
      ["scheduler", scheduler],
      ["hostd", hostd],
    ] as const) {
      console.log(
        `${name}:\n${text
          .split("\n")
          .filter((l) => /^(scheduler_(pickup_seconds_count|boots_total|host_capacity|log_lag_events)|oneshot_)/.test(l))
          .join("\n")}`,
      );
    }
    expect(value(scheduler, "scheduler_pickup_seconds_count", { kind: "local" })).toBeGreaterThanOrEqual(1);
    expect(value(scheduler, "scheduler_boots_total", { host_id: "local-amd64" })).toBeGreaterThanOrEqual(1);
    expect(value(scheduler, "scheduler_host_capacity", { host_id: "local-amd64", resource: "vcpus" })).toBeGreaterThanOrEqual(1);
    expect(value(scheduler, "scheduler_log_lag_events", {})).toBeGreaterThanOrEqual(0);
    expect(value(hostd, "oneshot_consumer_pending", { consumer: "hostd-local-amd64" })).toBe(0);
    expect(value(hostd, "oneshot_dead_letters_total", { consumer: "hostd-local-amd64" })).toBe(0);
  });
});
