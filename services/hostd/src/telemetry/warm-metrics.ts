// prom-client comes with @oneshot/runtime; the registry is the service's (/metrics).
import type { Registry } from "prom-client";
import { readGauge } from "./read-gauge.js";
import type { WarmPool } from "../agent/warm-pool.js";

/**
 * The warm pool's figures (docs/warm-pool.md), read from the pool at each scrape: how many VMs
 * it holds and has ready, hits and misses, refill (boot → ready) time and the age of ready VMs.
 */
export function warmPoolMetrics(registry: Registry, pool: WarmPool): void {
  const gauge = readGauge(registry);
  gauge("hostd_warm_pool_target", "Warm VMs this host keeps (HOSTD_WARM_POOLS, all shapes)", () => pool.pools.reduce((n, p) => n + p.size, 0));
  gauge("hostd_warm_pool_size", "Warm VMs booting or ready", () => pool.size);
  gauge("hostd_warm_pool_ready", "Warm VMs ready for a job", () => pool.ready().length);
  gauge("hostd_warm_pool_hits_total", "Jobs handed to a warm VM", () => pool.counters.hits);
  gauge("hostd_warm_pool_misses_total", "Jobs of a pool's shape that booted cold (no warm VM ready)", () => pool.counters.misses);
  gauge("hostd_warm_pool_fills_total", "Warm VMs that became ready", () => pool.counters.fills);
  gauge("hostd_warm_pool_fill_failures_total", "Warm VM boots that failed", () => pool.counters.fillFailures);
  gauge("hostd_warm_pool_last_refill_seconds", "Boot start → ready of the last warm VM", () => pool.counters.lastRefillMs / 1000);
  gauge("hostd_warm_pool_oldest_age_seconds", "Age of the oldest ready warm VM", () => Math.max(0, ...pool.ready().map((r) => r.ageMs)) / 1000);
}
