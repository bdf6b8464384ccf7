// prom-client comes with @oneshot/runtime; the registry is the service's (/metrics).
import { Gauge, type Registry } from "prom-client";
import { readGauge } from "../telemetry/read-gauge.js";
import type { RegistryMirror } from "./registry-mirror.js";

/** The registry mirror's figures (docs/registry-mirror.md), read from it at each scrape. */
export function registryMirrorMetrics(registry: Registry, mirror: RegistryMirror): void {
  const registers = [registry];
  const gauge = readGauge(registry);
  const perMirror = (name: string, help: string, read: (mirror: string) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["mirror"],
      registers,
      collect() {
        for (const m of mirror.up.keys()) this.set({ mirror: m }, read(m));
      },
    });
  perMirror("hostd_registry_mirror_up", "1 while the mirror's registry answers on the gateway", (m) => (mirror.up.get(m) ? 1 : 0));
  perMirror("hostd_registry_mirror_restarts_total", "Times the mirror's registry exited and was started again", (m) => mirror.restarts(m));
  perMirror(
    "hostd_registry_mirror_blob_pulls_total",
    "Blobs the mirror served to guests (from its cache or fetched)",
    (m) => mirror.counters.blobPulls.get(m) ?? 0,
  );
  gauge("hostd_registry_mirror_bytes", "What the whole cache takes on disk, at the last prune pass", () => mirror.counters.bytes);
  gauge("hostd_registry_mirror_cap_bytes", "The cache's cap (HOSTD_REGISTRY_MIRROR_CAP_MIB)", () => mirror.o.capBytes);
  gauge("hostd_registry_mirror_blobs", "Blobs in the cache, at the last prune pass", () => mirror.counters.blobs);
  gauge("hostd_registry_mirror_evicted_blobs_total", "Blobs the pruner removed to stay under the cap", () => mirror.counters.evictedBlobs);
  gauge("hostd_registry_mirror_evicted_bytes_total", "Bytes the pruner removed to stay under the cap", () => mirror.counters.evictedBytes);
}
