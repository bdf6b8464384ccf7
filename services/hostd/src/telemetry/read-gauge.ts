// prom-client comes with @oneshot/runtime; the registry is the service's (/metrics).
import { Gauge, type Registry } from "prom-client";

/** A gauge on `registry` whose value is read at each scrape (hostd's warm pool and registry mirror). */
export const readGauge =
  (registry: Registry) =>
  (name: string, help: string, read: () => number): Gauge =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
