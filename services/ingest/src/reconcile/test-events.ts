// Builders of stored events for the reconciler's tests (not a test file itself: no I/O).
import type { DomainEvent, JobSource, Stored } from "@oneshot/proto";
import { subjectOf } from "@oneshot/proto";
import { evolve, initialState, type ReconcileState } from "./projection.js";

export const T0 = Date.parse("2026-12-01T12:00:00Z");
export const iso = (ms: number) => new Date(ms).toISOString();

export const ghSource = (id: string, patch: Partial<JobSource> = {}): JobSource => ({
  provider: "github",
  repo: "acme/widgets",
  org: "acme",
  providerJobId: id,
  labels: ["oneshot"],
  installationId: 7,
  ownerType: "Organization",
  ...patch,
});

let seq = 0;
export function stored(e: DomainEvent, atMs = T0, correlationId = "corr"): Stored<DomainEvent> {
  return { ...e, id: `ev-${++seq}`, occurredAt: iso(atMs), correlationId, causationId: null, version: 1, subject: subjectOf(e), seq } as Stored<DomainEvent>;
}

export const queued = (jobId: string, source: JobSource = ghSource(jobId.replace(/^\w+-/, ""))): DomainEvent => ({
  type: "JobQueued",
  data: { jobId, source, spec: { arch: "amd64", vcpus: 2, memMiB: 2048, diskGiB: 10, image: "full", timeoutSec: 600 } },
});

/** State after the events, each `[event, atMs]`. */
export function given(events: [DomainEvent, number?][]): ReconcileState {
  const s = initialState();
  for (const [e, at] of events) evolve(s, stored(e, at ?? T0, `corr-${"jobId" in e.data ? e.data.jobId : "x"}`));
  return s;
}
