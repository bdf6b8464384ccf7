import type { DomainEvent, Stored } from "@oneshot/proto";
import { describe, expect, it } from "vitest";
import { emptyHistory, foldHistory, isNew } from "./job-history.js";

let seq = 0;
const stored = (e: DomainEvent): Stored<DomainEvent> =>
  ({
    ...e,
    id: `e${++seq}`,
    version: 1,
    occurredAt: "2026-12-01T10:00:00Z",
    correlationId: "c",
    causationId: null,
    subject: "evt.job.gh-1",
    seq,
  }) as Stored<DomainEvent>;
const spec = { arch: "amd64", vcpus: 2, memMiB: 2048, diskGiB: 10, image: "full", timeoutSec: 600 } as const;
const source = { provider: "github" as const, repo: "acme/w", org: "acme", providerJobId: "1", labels: ["oneshot"] };
const queued = stored({ type: "JobQueued", data: { jobId: "gh-1", spec, source } });

describe("a job's history as ingest reads it (state only moves forward)", () => {
  it("nothing stored → new", () => {
    expect(foldHistory([], 0)).toEqual(emptyHistory());
    expect(isNew(foldHistory([], 0))).toBe(true);
  });

  it("JobStarted v2 from a webhook or the reconciler → started", () => {
    for (const reportedBy of ["webhook", "reconcile"] as const) {
      const h = foldHistory([queued, stored({ type: "JobStarted", data: { jobId: "gh-1", reportedBy, runnerName: "oneshot-h-v", vmId: "v" } })], 2);
      expect(h, reportedBy).toMatchObject({ lastSeq: 2, queued: true, started: true, ended: false, source });
    }
  });

  it("JobCompleted v2 from the provider, the VM or the reconciler, JobCancelled, JobFailed → ended", () => {
    const ends: DomainEvent[] = [
      ...(["provider", "vm", "reconcile"] as const).map((reportedBy): DomainEvent => ({
        type: "JobCompleted",
        data: { jobId: "gh-1", conclusion: "success", exitCode: null, reportedBy },
      })),
      { type: "JobCancelled", data: { jobId: "gh-1", reason: "x" } },
      { type: "JobFailed", data: { jobId: "gh-1", reason: "x" } },
    ];
    for (const e of ends) expect(foldHistory([queued, stored(e)], 2).ended, e.type).toBe(true);
  });

  it("the scheduler's JobScheduled, JobRequeued, JobRebound, JobUnschedulable move nothing for ingest", () => {
    const h = foldHistory(
      [
        queued,
        stored({ type: "JobScheduled", data: { jobId: "gh-1", hostId: "h", vmId: "v1", spec, attempt: 0 } }),
        stored({ type: "JobRequeued", data: { jobId: "gh-1", fromHostId: "h", vmId: "v1", reason: "displaced", attempt: 1, releasesVm: false } }),
        stored({ type: "JobRebound", data: { jobId: "gh-1", hostId: "h", vmId: "v2", fromVmId: "v1", reason: "free VM covers it" } }),
        stored({ type: "JobUnschedulable", data: { jobId: "gh-1", reason: "no host has the image" } }),
      ],
      5,
    );
    expect(h).toEqual({ ...emptyHistory(), lastSeq: 5, queued: true, source });
  });
});
