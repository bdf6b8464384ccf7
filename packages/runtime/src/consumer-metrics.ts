import { Counter, Gauge, type Registry } from "prom-client";

type Lag = { pending: number; ackPending: number };

interface Shared {
  deadLetters: Counter<"consumer">;
  sources: Map<string, () => Promise<Lag | undefined>>;
}

const perRegistry = new WeakMap<Registry, Shared>();

/**
 * A durable consumer's lag and dead letters, in the service's registry: messages it has not
 * been delivered yet (`num_pending`), delivered and not acknowledged (`num_ack_pending`), read
 * from the server at each scrape, and what it dead-lettered. One set of metrics per registry,
 * one label value per consumer (hostd has one, ingest one per provider cleanup).
 */
export function consumerMetrics(registry: Registry, durable: string, lag: () => Promise<Lag | undefined>): { deadLettered: () => void; remove: () => void } {
  let shared = perRegistry.get(registry);
  if (!shared) {
    const sources = new Map<string, () => Promise<Lag | undefined>>();
    const registers = [registry];
    // Each gauge reads the server at its own collect: a scrape collects every metric at once.
    const lagGauge = (name: string, help: string, field: keyof Lag) =>
      new Gauge({
        name,
        help,
        labelNames: ["consumer"],
        registers,
        async collect() {
          const read = await Promise.all([...sources].map(async ([c, f]) => [c, await f().catch(() => undefined)] as const));
          this.reset();
          for (const [c, l] of read) if (l) this.set({ consumer: c }, l[field]);
        },
      });
    lagGauge(
      "oneshot_consumer_pending",
      "Messages on a durable consumer's subjects not delivered to it yet (its lag), from the server at each scrape",
      "pending",
    );
    lagGauge("oneshot_consumer_ack_pending", "Messages delivered to a durable consumer and not acknowledged yet", "ackPending");
    const deadLetters = new Counter({
      name: "oneshot_dead_letters_total",
      help: "Messages a durable consumer copied to dlq.<consumer> with a reason, and terminated",
      labelNames: ["consumer"],
      registers,
    });
    shared = { deadLetters, sources };
    perRegistry.set(registry, shared);
  }
  const s = shared;
  s.sources.set(durable, lag);
  s.deadLetters.inc({ consumer: durable }, 0);
  return { deadLettered: () => s.deadLetters.inc({ consumer: durable }), remove: () => void s.sources.delete(durable) };
}
