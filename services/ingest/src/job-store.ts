import { ConcurrencyError, type EventStore } from "@oneshot/runtime";
import { subjects } from "@oneshot/proto";
import { foldHistory, type Decision, type JobHistory } from "./core/job-history.js";

export interface StoreOutcome {
  note: string;
  seq?: number;
  duplicate?: boolean;
}

/**
 * Reads the job's own history, decides, and appends at most one event with the delivery id
 * as msgId and the history's last sequence as the expected one: a concurrent delivery for
 * the same job makes one of the two re-read and decide again (so never two JobQueued).
 */
export async function decideAndStore(
  store: EventStore,
  jobId: string,
  decide: (h: JobHistory) => Decision,
  o: { msgId: string; correlationId: string; timeoutMs: number },
): Promise<StoreOutcome> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const { events, lastSeq } = await store.readAggregate(subjects.job(jobId));
    const d = decide(foldHistory(events, lastSeq));
    if (!d.append) return { note: d.note };
    try {
      const r = await store.append(d.append, { msgId: o.msgId, expectedLastSubjectSeq: lastSeq, correlationId: o.correlationId, timeoutMs: o.timeoutMs });
      return { note: r.duplicate ? `${d.note} (duplicate delivery: stored once)` : d.note, seq: r.seq, duplicate: r.duplicate };
    } catch (e) {
      if (!(e instanceof ConcurrencyError)) throw e;
    }
  }
  throw new ConcurrencyError(subjects.job(jobId), -1);
}
