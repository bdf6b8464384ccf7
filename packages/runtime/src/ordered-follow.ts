import { DeliverPolicy, type Consumer, type ConsumerMessages, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";

/**
 * How long a follower may hear nothing before it asks the server whether its consumer is still
 * there. One unanswered ask (one request timeout, 3 s) makes it start a new one: a new consumer
 * from the next sequence costs a request and loses nothing.
 */
export const FOLLOW_STALL_MS = 4_000;
/**
 * How long one pull waits before it is renewed. nats.js sends idle heartbeats at half of it and
 * treats two missed ones as a lost consumer (an ordered one is then recreated where it left
 * off). The default, 30 s, meant a reader stalled 30–60 s when the NATS node serving it died
 * (the chaos suite measured 45–61 s); at 4 s it notices in about 4 s. An idle reader renews a
 * pull every 4 s: nothing next to its traffic.
 */
export const PULL_EXPIRES_MS = 4_000;

export interface OrderedFollowOptions {
  stream: string;
  filter: string;
  /** First stream sequence to deliver (default 1: everything the filter matches). */
  startSeq?: number;
  /** `last-per-subject`: start with each subject's last message (telemetry); a restart goes on from the next sequence. */
  start?: "sequence" | "last-per-subject";
  maxMessages?: number;
  onMessage: (m: JsMsg) => void | Promise<void>;
  /** A handler error ends the follow and lands here. */
  onError?: (e: unknown) => void;
  /** The follow started a new consumer where it left off (why, and from which sequence). */
  onRestart?: (info: { reason: string; fromSeq: number }) => void;
  stallMs?: number;
}

/**
 * A live, in-order read of a stream that survives the loss of the NATS node holding its
 * consumer. An ordered consumer is an R1 ephemeral the cluster places on any peer of the stream
 * (not the leader: measured on nats-server 2.9.10, six of them landed on all three nodes). When
 * that node dies, nats.js asks for the consumer's info, gets timeouts rather than "consumer not
 * found", and waits for the node to come back: a follower (a scheduler's projection, `oneshot
 * run`'s console) hears nothing for as long as the node is down (the chaos suite saw > 60 s).
 * Here a follow that heard nothing for `stallMs` asks for its consumer's info itself; an
 * unanswered ask and it starts a new ordered consumer at the sequence after the last one it
 * delivered, so nothing is skipped or repeated. An idle, healthy follow costs one info request
 * per `stallMs`.
 */
export async function followOrdered(js: JetStreamClient, o: OrderedFollowOptions): Promise<() => Promise<void>> {
  const stallMs = o.stallMs ?? FOLLOW_STALL_MS;
  let nextSeq = o.startSeq ?? 1;
  let stopped = false;
  let heardAt = Date.now();
  let consumer: Consumer;
  let iter: ConsumerMessages;
  let delivered = false;
  const open = async () => {
    consumer = await js.consumers.get(
      o.stream,
      o.start === "last-per-subject" && !delivered
        ? { filter_subjects: o.filter, deliver_policy: DeliverPolicy.LastPerSubject }
        : { filter_subjects: o.filter, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: nextSeq },
    );
    iter = await consumer.consume({ max_messages: o.maxMessages ?? 1000, expires: PULL_EXPIRES_MS });
    heardAt = Date.now();
  };
  await open();
  let restartReason: string | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  const done = (async () => {
    try {
      while (!stopped) {
        for await (const m of iter!) {
          heardAt = Date.now();
          nextSeq = m.seq + 1;
          delivered = true;
          await o.onMessage(m);
        }
        if (stopped) break;
        o.onRestart?.({ reason: restartReason ?? "the consumer ended", fromSeq: nextSeq });
        for (;;) {
          if (stopped) return;
          try {
            await open();
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 1_000));
          }
        }
      }
    } catch (e) {
      stopped = true;
      clearInterval(watchdog);
      o.onError?.(e);
    }
  })();
  let probing = false;
  watchdog = setInterval(() => {
    if (stopped || probing || Date.now() - heardAt < stallMs) return;
    probing = true;
    const watched = iter;
    consumer
      .info()
      .then(
        () => {
          heardAt = Date.now();
        },
        (e: unknown) => {
          // "consumer not found" is nats.js's own case: it recreates the consumer itself.
          if (String((e as Error)?.message).includes("consumer not found")) return;
          if (stopped || watched !== iter) return;
          restartReason = `its consumer did not answer an info request (${(e as Error)?.message ?? e}): its NATS node is gone?`;
          void watched.close();
        },
      )
      .finally(() => (probing = false));
  }, 1_000);
  watchdog.unref();
  return async () => {
    stopped = true;
    clearInterval(watchdog);
    await iter.close();
    await done;
    // An ordered consumer outlives its iterator by minutes on the server: removed now (a dashboard opens one per page view).
    await consumer.delete().catch(() => undefined);
  };
}
