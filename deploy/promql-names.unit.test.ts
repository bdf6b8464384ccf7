import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dashboardQueries, exportedNames, metricNames } from "./promql-names.js";

describe("metric names in PromQL", () => {
  it("finds the metrics, not the functions, labels, variables or durations", () => {
    expect(metricNames("histogram_quantile(0.95, sum by (le, kind) (rate(scheduler_pickup_seconds_bucket[$__rate_interval])))")).toEqual([
      "scheduler_pickup_seconds_bucket",
    ]);
    expect(metricNames('max by (host_id) (a_reserved{resource="vcpus", host_id=~"$host"}) / max by (host_id) (b_capacity{resource="vcpus"})')).toEqual([
      "a_reserved",
      "b_capacity",
    ]);
    expect(metricNames("sum(rate(x_total[5m] offset 1h)) * 60 + on(instance) group_left(service) y_info")).toEqual(["x_total", "y_info"]);
    expect(metricNames('up{job=~"a|b"} and bool z')).toEqual(["up", "z"]);
    expect(metricNames("vector(1)")).toEqual([]);
  });

  it("expands histograms and summaries to their series", () => {
    const names = exportedNames('# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 0\n# TYPE c counter\nc 1\n# TYPE s summary\n');
    expect([...names].sort()).toEqual(["c", "h", "h_bucket", "h_count", "h_sum", "s", "s_count", "s_sum"]);
  });

  it("every query of the shipped dashboard names at least one metric (nothing the e2e test would silently miss)", () => {
    const d = JSON.parse(readFileSync(join(import.meta.dirname, "grafana", "oneshot-dashboard.json"), "utf8"));
    const { exprs, templateMetrics } = dashboardQueries(d);
    expect(exprs.length).toBeGreaterThan(10);
    for (const e of exprs) expect(metricNames(e), e).not.toEqual([]);
    expect(templateMetrics).toEqual(["scheduler_queue_depth", "scheduler_host_capacity"]);
  });
});
