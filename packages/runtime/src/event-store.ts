import { DeliverPolicy, type JsMsg, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { DecodeError, decodeStored, encode, misplacement, streams, subjectOf, type DomainEvent, type Meta, type Stored } from "@oneshot/proto";
import { ConcurrencyError, StoreUnavailableError } from "./errors.js";
import { newEventId } from "./ids.js";
import { followOrdered, PULL_EXPIRES_MS, type OrderedFollowOptions } from "./ordered-follow.js";

export interface AppendOptions {
  /** Upstream identity (delivery id, job id + transition): a repeat within the window is stored once. */
  msgId?: string;
  /** Fails with ConcurrencyError unless the subject's last sequence is this (0 = subject is empty). */
  expectedLastSubjectSeq?: number;
  correlationId: string;
  causationId?: string | null;
  /** Defaults: a new UUIDv7 and the current time (both are inputs, never derived in domain code). */
  id?: string;
  occurredAt?: string;
  timeoutMs?: number;
  /**
   * Another subject the subject table allows for this event (hostd's own HostDeregistered goes
   * to `evt.host.<h>.self`, an operator's to `evt.host.<h>`); default: `subjectOf(event)`.
   */
  subject?: string;
}

export interface AppendResult {
  seq: number;
  subject: string;
  id: string;
  /** True when JetStream had already stored this msgId: nothing new was written. */
  duplicate: boolean;
}

export interface ReplayOptions {
  startSeq?: number;
  startTime?: Date;
  /** Stop after this sequence (inclusive); default: the stream's last sequence when replay began. */
  untilSeq?: number;
  /** Called for a message that does not decode; without it, replay throws the DecodeError. */
  onDecodeError?: (e: DecodeError) => void;
}

export interface ReplayReport {
  count: number;
  lastSeq: number;
  ms: number;
  eventsPerSec: number;
}

/**
 * Messages per pull of a replay. Measured on a 1M-event log (bench/replay.bench.ts): 1,000 to
 * 10,000 read at the same rate within noise: decoding, not fetching, is where replay spends
 * its time (the bench's `breakdown` case).
 */
const REPLAY_BATCH = 4096;

/** The audit log on JetStream: append with dedupe and optimistic concurrency, read, replay. */
export class EventStore {
  readonly stream: string = streams.events.name;
  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
  ) {}

  async append(event: DomainEvent, opts: AppendOptions): Promise<AppendResult> {
    const subject = opts.subject ?? subjectOf(event);
    const why = opts.subject === undefined ? undefined : misplacement(event.type, event.data, subject);
    if (why) throw new Error(`cannot append ${event.type} to ${subject}: ${why}`);
    const meta: Meta = {
      id: opts.id ?? newEventId(),
      occurredAt: opts.occurredAt ?? new Date().toISOString(),
      correlationId: opts.correlationId,
      causationId: opts.causationId ?? null,
    };
    const bytes = encode(event, meta);
    try {
      const ack = await this.js.publish(subject, bytes, {
        ...(opts.msgId ? { msgID: opts.msgId } : {}),
        ...(opts.expectedLastSubjectSeq !== undefined ? { expect: { lastSubjectSequence: opts.expectedLastSubjectSeq } } : {}),
        timeout: opts.timeoutMs ?? 5_000,
      });
      return { seq: ack.seq, subject, id: meta.id, duplicate: ack.duplicate };
    } catch (e) {
      if ((e as { code?: unknown }).code === 10071) throw new ConcurrencyError(subject, opts.expectedLastSubjectSeq ?? -1, e);
      throw new StoreUnavailableError(subject, e);
    }
  }

  /** The stream's last sequence (0 when empty): where a live follow starts after a replay. */
  async lastStreamSeq(): Promise<number> {
    return (await this.jsm.streams.info(this.stream)).state.last_seq;
  }

  /** When the stream was created: tells this log from an earlier one of the same name (a snapshot's log). */
  async streamCreated(): Promise<string> {
    return (await this.jsm.streams.info(this.stream)).created;
  }

  /** Last sequence stored on exactly this subject; 0 when there is none. */
  async lastSeq(subject: string): Promise<number> {
    try {
      const m = await this.jsm.streams.getMessage(this.stream, { last_by_subj: subject });
      return m?.seq ?? 0;
    } catch (e) {
      if (/no message found|not found/i.test((e as Error).message)) return 0;
      throw new StoreUnavailableError(subject, e);
    }
  }

  /**
   * Every event of one aggregate, in order, with the last sequence (for expectedLastSubjectSeq).
   * An aggregate's subject holds a handful of events, so they are read one request each
   * (`next_by_subj` gets) rather than through a consumer, which costs a create, an info and a
   * delete on top of the reads. The answer is consistent: the last get found nothing after
   * `lastSeq`, so every event up to it was read.
   */
  async readAggregate(subject: string): Promise<{ events: Stored<DomainEvent>[]; lastSeq: number }> {
    const events: Stored<DomainEvent>[] = [];
    let lastSeq = 0;
    for (;;) {
      let m;
      try {
        m = await this.jsm.streams.getMessage(this.stream, { seq: lastSeq + 1, next_by_subj: subject } as unknown as { seq: number });
      } catch (e) {
        throw new StoreUnavailableError(subject, e);
      }
      if (!m) return { events, lastSeq };
      lastSeq = m.seq;
      const e = tryDecode(m);
      if (e) events.push(e);
    }
  }

  /** Reads the log in order through an ordered consumer up to `untilSeq` (default: the end now). */
  async replay(filter: string, handler: (e: Stored<DomainEvent>) => void | Promise<void>, opts: ReplayOptions = {}): Promise<ReplayReport> {
    const started = performance.now();
    const info = await this.jsm.streams.info(this.stream);
    const until = opts.untilSeq ?? info.state.last_seq;
    const from = opts.startSeq ?? 1;
    let count = 0;
    let lastSeq = 0;
    if (until >= from && info.state.messages > 0) {
      const consumer = await this.js.consumers.get(this.stream, {
        filter_subjects: filter,
        ...(opts.startTime
          ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: opts.startTime.toISOString() }
          : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from }),
      });
      // Stop at `until` even when the filter matches nothing more: pending tells us when we are done.
      const first = await consumer.info(true).catch(() => undefined);
      if (!first || first.num_pending > 0) {
        const iter = await consumer.consume({ max_messages: REPLAY_BATCH, expires: PULL_EXPIRES_MS });
        for await (const m of iter) {
          if (m.seq > until) break;
          lastSeq = m.seq;
          const e = tryDecode(m, opts.onDecodeError);
          if (e) {
            count++;
            // A projection's handler is synchronous: awaiting its undefined costs a turn per event.
            const r = handler(e);
            if (r) await r;
          }
          if (m.seq >= until) break;
          // Nothing more matches the filter up to `until`: the message's pending count says so,
          // and the consumer's own count confirms it (a stale 0 must not cut a replay short).
          if (m.info.pending === 0 && ((await consumer.info(true).catch(() => undefined))?.num_pending ?? 0) === 0) break;
        }
        await iter.close();
      }
      await consumer.delete().catch(() => undefined);
    }
    const ms = performance.now() - started;
    return { count, lastSeq, ms, eventsPerSec: ms > 0 ? Math.round((count * 1000) / ms) : count };
  }

  /**
   * Follows the log live from `startSeq` (ordered consumer; survives server restarts and the
   * loss of the node holding its consumer: ordered-follow.ts).
   * Returns a stop function. Handler errors stop the follow and reach `onError`.
   */
  async follow(
    filter: string,
    handler: (e: Stored<DomainEvent>) => void | Promise<void>,
    opts: { startSeq?: number; onError?: (e: unknown) => void; onDecodeError?: (e: DecodeError) => void; onRestart?: OrderedFollowOptions["onRestart"] } = {},
  ): Promise<() => Promise<void>> {
    return followOrdered(this.js, {
      stream: this.stream,
      filter,
      startSeq: opts.startSeq ?? 1,
      onMessage: async (m) => {
        const e = tryDecode(m, opts.onDecodeError);
        if (e) await handler(e);
      },
      ...(opts.onError ? { onError: opts.onError } : {}),
      ...(opts.onRestart ? { onRestart: opts.onRestart } : {}),
    });
  }
}

/**
 * A stored message that decodes but may not stand where it is (proto's subject table): a
 * heartbeat on a host subject, a host speaking for another host, a job decision on a host
 * subject. It is a DecodeError, so every reader skips it (reported, dead-lettered by durable
 * consumers) and no projection ever applies it.
 */
export class MisplacedEventError extends DecodeError {
  override readonly name = "MisplacedEventError";
}

/** What decoding needs of a message: a consumed JsMsg and a stored (get) message both have it. */
export type RawStored = Pick<JsMsg, "data" | "subject" | "seq">;

export function decodeMsg(m: RawStored): Stored<DomainEvent> {
  const d = decodeStored(m.data, m.subject, m.seq) as Stored<DomainEvent>;
  const why = misplacement(d.type, d.data, m.subject);
  if (why) throw new MisplacedEventError(`misplaced ${d.type}: ${why}`, m.subject, m.seq);
  return d;
}

function tryDecode(m: RawStored, onDecodeError?: (e: DecodeError) => void): Stored<DomainEvent> | undefined {
  try {
    return decodeMsg(m);
  } catch (e) {
    if (e instanceof DecodeError && onDecodeError) {
      onDecodeError(e);
      return undefined;
    }
    // A misplaced event is never applied, and never stops a reader that did not ask to hear of it.
    if (e instanceof MisplacedEventError) return undefined;
    throw e;
  }
}
