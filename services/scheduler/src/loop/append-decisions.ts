import { ConcurrencyError, type EventStore, type Logger } from "@oneshot/runtime";
import type { Decision } from "../core/decision.js";

export interface AppendReport {
  stored: Decision[];
  duplicates: number;
  conflicts: number;
  /** Highest sequence any append answered with: the projection must read that far before deciding again. */
  maxSeq: number;
  /** A failure other than a conflict (NATS unavailable…): decide again after a pause. */
  error?: unknown;
  /** The lease lapsed during the round: what was left of it was not appended. */
  leaseLost?: boolean;
}

/**
 * Appends one decision round. Decisions on one subject go in order, each expecting the
 * sequence the previous one got (a duplicate changes nothing on the subject, so the
 * expectation stays); the first conflict stops that subject's chain, since everything after
 * it rests on a state that is now stale. Subjects go in parallel, a few at a time.
 */
export async function appendDecisions(store: EventStore, decisions: readonly Decision[], o: AppendOptions & { parallel?: number }): Promise<AppendReport> {
  const chains = new Map<string, Decision[]>();
  for (const d of decisions) {
    const chain = chains.get(d.subject);
    if (chain) chain.push(d);
    else chains.set(d.subject, [d]);
  }
  const report: AppendReport = { stored: [], duplicates: 0, conflicts: 0, maxSeq: 0 };
  const queue = [...chains.values()];
  const worker = async () => {
    for (let chain = queue.shift(); chain; chain = queue.shift()) await appendChain(store, chain, report, o);
  };
  await Promise.all(Array.from({ length: Math.min(o.parallel ?? 16, queue.length) }, worker));
  return report;
}

interface AppendOptions {
  newId: () => string;
  log: Logger;
  /** Checked before every append: a scheduler whose lease lapsed (it was frozen, say) stops mid-round. */
  mayAct?: () => boolean;
}

async function appendChain(store: EventStore, chain: Decision[], report: AppendReport, o: AppendOptions): Promise<void> {
  let expected = chain[0]!.expectedLastSubjectSeq;
  for (const d of chain) {
    if (o.mayAct && !o.mayAct()) {
      report.leaseLost = true;
      return;
    }
    try {
      const res = await store.append(d.event, {
        msgId: d.msgId,
        expectedLastSubjectSeq: expected,
        correlationId: d.correlationId,
        causationId: d.causationId,
        id: o.newId(),
        occurredAt: d.occurredAt,
      });
      report.maxSeq = Math.max(report.maxSeq, res.seq);
      if (res.duplicate) {
        report.duplicates++;
        o.log.debug({ msgId: d.msgId, subject: d.subject }, "decision already stored (another scheduler made it)");
        continue;
      }
      expected = res.seq;
      report.stored.push(d);
    } catch (e) {
      if (e instanceof ConcurrencyError) {
        report.conflicts++;
        o.log.debug({ subject: d.subject, expected }, "subject moved on: deciding again on fresh state");
      } else {
        report.error ??= e;
        o.log.warn({ err: e, subject: d.subject, msgId: d.msgId }, "append failed");
      }
      return;
    }
  }
}
