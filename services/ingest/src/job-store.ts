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
 * Reads the job's own history, decides, and appends at most one event, with the delivery's id
 * as msgId and the history's last sequence as the expected one. A concurrent delivery for the
 * same job makes one of the two fail with 10071, re-read and decide again: never two JobQueued.
 * The msgId covers JetStream's duplicate window; the history covers redeliveries days later.
 */
export async function decideAndStore(
  store: EventStore,
  jobId: string,
  decide: (h: JobHistory) => Decision | Promise<Decision>,
  o: { msgId: string; correlationId: string; timeoutMs: number },
): Promise<StoreOutcome> {
  const subject = subjects.job(jobId);
  const notes: string[] = [];
  // A second append of one delivery (Decision.again) has its own msgId: `<delivery>:2`.
  let msgId = o.msgId;
  for (let attempt = 0; attempt < 6; attempt++) {
    const { events, lastSeq } = await store.readAggregate(subject);
    const d = await decide(foldHistory(events, lastSeq));
    const note = [...notes, d.note].join("; ");
    if (!d.append) return { note };
    try {
      const r = await store.append(d.append, { msgId, expectedLastSubjectSeq: lastSeq, correlationId: o.correlationId, timeoutMs: o.timeoutMs });
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
