import { AckPolicy, DeliverPolicy, type JsMsg } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { DecodeError, subjects, type DomainEvent, type Stored } from "@oneshot/proto";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { consumerMetrics } from "./consumer-metrics.js";
import { TerminalError, isRetryable } from "./errors.js";
import { decodeMsg } from "./event-store.js";
import { PULL_EXPIRES_MS } from "./ordered-follow.js";
import type { Nats } from "./nats.js";

export interface DurableOptions {
  stream: string;
  /** Durable consumer name; also names the dead-letter subject `dlq.<durable>`. */
  durable: string;
  filterSubject: string;
  handler: (event: Stored<DomainEvent>, msg: JsMsg) => Promise<void>;
  log: Logger;
  /** Attempts before a retryable failure is dead-lettered. */
  maxAttempts?: number;
  /** Redelivery delay per attempt (ms); the last value repeats. */
  backoffMs?: number[];
  /** Unacked messages are redelivered after this long (a crashed handler's message comes back). */
  ackWaitMs?: number;
  deliverPolicy?: DeliverPolicy;
  onOutcome?: (outcome: "ack" | "nak" | "dead-letter") => void;
  /** The service's registry: the consumer's lag and dead letters are exported (consumer-metrics.ts). */
  registry?: Registry;
}

export interface DeadLetter {
  reason: string;
  consumer: string;
  originalSubject: string;
  originalSeq: number;
}

export const dlqHeaders = {
  reason: "Oneshot-Dlq-Reason",
  consumer: "Oneshot-Dlq-Consumer",
  subject: "Oneshot-Original-Subject",
  seq: "Oneshot-Original-Seq",
} as const;

/**
 * A durable, explicit-ack consumer. Each handler outcome maps once to:
 *  - success → ack
 *  - retryable error (and attempts left) → nak with backoff
 *  - DecodeError, terminal error, or attempts exhausted → copy to `dlq.<durable>` with the
 *    reason, then term. If the dead-letter publish fails the message is nak'd: it is never
 *    dropped silently, and it never blocks the messages behind it.
 */
export async function runDurableConsumer(nats: Nats, o: DurableOptions): Promise<{ stop: () => Promise<void> }> {
  const maxAttempts = o.maxAttempts ?? 5;
  const backoff = o.backoffMs ?? [250, 1000, 5000, 15000];
  const ackWaitNs = (o.ackWaitMs ?? 30_000) * 1_000_000;
  const config = {
    durable_name: o.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: o.deliverPolicy ?? DeliverPolicy.All,
    filter_subject: o.filterSubject,
    ack_wait: ackWaitNs,
    // We count attempts ourselves and dead-letter; the server must never drop a message.
    max_deliver: -1,
  };
  const existing = await nats.jsm.consumers.info(o.stream, o.durable).catch(() => undefined);
  if (!existing) {
    await nats.jsm.consumers.add(o.stream, config).catch((e: Error) => {
      // Least-privilege identities (a hostd) cannot create consumers: an operator provisions them.
      throw new TerminalError(
        `cannot create consumer ${o.durable} on ${o.stream} (${e.message}); provision it with \`oneshot admin add-host\` or give this identity the right`,
        e,
      );
    });
  } else if (existing.config.ack_wait !== ackWaitNs || existing.config.filter_subject !== o.filterSubject) {
    await nats.jsm.consumers.update(o.stream, o.durable, { ack_wait: ackWaitNs, max_deliver: -1 }).catch((e: Error) => {
      o.log.warn({ err: e, durable: o.durable }, "consumer exists with other settings and cannot be updated here; using it as it is");
    });
  }
  const consumer = await nats.js.consumers.get(o.stream, o.durable);
  const metrics = o.registry
    ? consumerMetrics(o.registry, o.durable, async () => {
        const i = await nats.jsm.consumers.info(o.stream, o.durable);
        return { pending: i.num_pending, ackPending: i.num_ack_pending };
      })
    : undefined;
  const onOutcome = o.onOutcome;
  const opts: DurableOptions = metrics ? { ...o, onOutcome: (out) => (out === "dead-letter" && metrics.deadLettered(), onOutcome?.(out)) } : o;
  // Short pulls: a dead NATS node is noticed in seconds, not the default 30–60 s (PULL_EXPIRES_MS).
  const iter = await consumer.consume({ max_messages: 64, expires: PULL_EXPIRES_MS });
  const done = (async () => {
    for await (const m of iter) await handleOne(nats, opts, m, maxAttempts, backoff);
  })();
  return {
    stop: async () => {
      metrics?.remove();
      await iter.close();
      await done.catch(() => undefined);
    },
  };
}

async function handleOne(nats: Nats, o: DurableOptions, m: JsMsg, maxAttempts: number, backoff: number[]): Promise<void> {
  const attempt = m.info.deliveryCount;
  let event: Stored<DomainEvent>;
  try {
    event = decodeMsg(m);
  } catch (e) {
    const reason = e instanceof DecodeError ? `${e.message}: ${e.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}` : String(e);
    return deadLetter(nats, o, m, reason);
  }
  try {
    await o.handler(event, m);
    m.ack();
    o.onOutcome?.("ack");
  } catch (e) {
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    if (isRetryable(e) && attempt < maxAttempts) {
      const delay = backoff[Math.min(attempt - 1, backoff.length - 1)] ?? 1000;
      o.log.warn({ err: e, subject: m.subject, seq: m.seq, attempt, delayMs: delay }, "handler failed; will retry");
      m.nak(delay);
      o.onOutcome?.("nak");
      return;
    }
    const why = isRetryable(e) ? `gave up after ${attempt} attempts: ${msg}` : msg;
    return deadLetter(nats, o, m, why);
  }
}

async function deadLetter(nats: Nats, o: DurableOptions, m: JsMsg, reason: string): Promise<void> {
  const h = headers();
  h.set(dlqHeaders.reason, reason.slice(0, 1024).replace(/[\r\n]+/g, " "));
  h.set(dlqHeaders.consumer, o.durable);
  h.set(dlqHeaders.subject, m.subject);
  h.set(dlqHeaders.seq, String(m.seq));
  try {
    await nats.js.publish(subjects.dlq(o.durable), m.data, { headers: h, msgID: `${o.stream}:${m.seq}:${o.durable}` });
    // No reason on the term: nats-server 2.9 does not parse `+TERM <reason>` and leaves the message
    // ack-pending, to be redelivered after ack_wait and handled again, forever (the reason is in
    // the dead letter's headers). consumer-metrics.int.test.ts caught it as an ack-pending of 1.
    m.term();
    o.log.error({ subject: m.subject, seq: m.seq, reason }, "message dead-lettered");
    o.onOutcome?.("dead-letter");
  } catch (e) {
    o.log.error({ err: e, subject: m.subject, seq: m.seq }, "dead-letter publish failed; message stays pending");
    m.nak(5_000);
    o.onOutcome?.("nak");
  }
}
