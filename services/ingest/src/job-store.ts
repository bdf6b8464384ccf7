import { subjects } from "@oneshot/proto";
import { ConcurrencyError, type EventStore } from "@oneshot/runtime";
import { foldHistory, type Decision, type JobHistory } from "./providers/shared/job-history.js";

export interface StoreOutcome {
  /** What happened, for the reply and the log. */
  note: string;
  /** The stored event's type and sequence, when one was stored. */
  type?: string;
  seq?: number;
  /** JetStream had this delivery's msgId already: nothing new was written. */
  duplicate?: boolean;
}

/**
 * Decides on the job's own history and appends at most one event, with the delivery's id as
 * msgId and the history's last sequence as the expected one.
 *
 * Fast path: most deliveries are the first word of a new job, so the first decision is made on
 * an empty history and appended expecting the subject to be empty (sequence 0), with no read.
 * Only when that fails (10071: the job has history) or JetStream had the msgId already is the
 * history read, and the decision made again on it. A concurrent delivery for the same job makes
 * one of the two appends fail the same way, re-read and decide again: never two JobQueued.
 * The msgId covers JetStream's duplicate window; the history covers redeliveries days later.
 * `guessNew: false` reads first: for a provider whose decision on a new job costs an API call
 * (GitLab's tags), a wrong guess would cost more than the read it saves.
 */
export async function decideAndStore(
  store: EventStore,
  jobId: string,
  decide: (h: JobHistory) => Decision | Promise<Decision>,
  o: { msgId: string; correlationId: string; timeoutMs: number; guessNew?: boolean },
): Promise<StoreOutcome> {
  const subject = subjects.job(jobId);
  const notes: string[] = [];
  // A second append of one delivery (Decision.again) has its own msgId: `<delivery>:2`.
  let msgId = o.msgId;
  // Until the first append is refused, assume the job is new (nothing read yet).
  let assumeNew = o.guessNew ?? true;
  for (let attempt = 0; attempt < 7; attempt++) {
    const guess = assumeNew;
    assumeNew = false;
    const { events, lastSeq } = guess ? { events: [], lastSeq: 0 } : await store.readAggregate(subject);
    const d = await decide(foldHistory(events, lastSeq));
    const note = [...notes, d.note].join("; ");
    // Nothing to store for a new job: whether that holds for the real history needs a read.
    if (!d.append) {
      if (guess) continue;
      return { note };
    }
    try {
      // One try waits at most 2 s for its ack: while NATS is away a publish waits for the
      // reconnect, and the caller's deadline (withinDeadline) must leave room to try again
      // once it is back. A try that was stored after all is deduplicated by its msgId.
      const r = await store.append(d.append, {
        msgId,
        expectedLastSubjectSeq: lastSeq,
        correlationId: o.correlationId,
        timeoutMs: Math.min(o.timeoutMs, 2_000),
      });
      // Stored before: the decision on the real history says what the reply should (as before the fast path).
      if (r.duplicate && guess) continue;
      if (d.again && notes.length === 0) {
        notes.push(r.duplicate ? `${d.note} (stored before)` : d.note);
        msgId = `${o.msgId}:2`;
        continue;
      }
      if (r.duplicate) return { note: `${note}: duplicate delivery, stored once`, seq: r.seq, duplicate: true };
      return { note, type: d.append.type, seq: r.seq };
    } catch (e) {
      if (!(e instanceof ConcurrencyError)) throw e;
    }
  }
  throw new ConcurrencyError(subject, -1);
}
