import { subjectOf, type DomainEvent, type Stored } from "@oneshot/proto";

/**
 * Stores events as the log would: consecutive sequences from `fromSeq`, each on its own
 * subject, with deterministic ids and times. For tests, benches and what-if replays.
 */
export function historyOf(events: readonly DomainEvent[], fromSeq = 1, at = "2026-01-01T00:00:00.000Z"): Stored<DomainEvent>[] {
  return events.map(
    (e, i) =>
      ({
        ...e,
        version: 1,
        subject: subjectOf(e),
        seq: fromSeq + i,
        id: `e-${fromSeq + i}`,
        occurredAt: at,
        correlationId: `c-${"jobId" in e.data ? e.data.jobId : "hostId" in e.data ? e.data.hostId : e.data.provider}`,
        causationId: null,
      }) as Stored<DomainEvent>,
  );
}
