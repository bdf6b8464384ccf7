import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DomainEvent } from "@oneshot/proto";
import type { EventStore } from "@oneshot/runtime";
import { connectTest, missing, startNats, type TestNats } from "@oneshot/testing";
import { decideAndStore } from "./job-store.js";
import { isNew, type Decision, type JobHistory } from "./providers/shared/job-history.js";

const skip = missing("nats");
const queued = (jobId: string): DomainEvent => ({
  type: "JobQueued",
  data: {
    jobId,
    source: { provider: "github", repo: "acme/w", org: "acme", providerJobId: jobId, labels: ["oneshot-1cpu-1gb"] },
    spec: { arch: "amd64", vcpus: 1, memMiB: 1024, diskGiB: 10, image: "minimal", timeoutSec: 60 },
  },
});
/** GitHub's `queued` in miniature: a new job is queued, a known one changes nothing. */
const decideQueued =
  (jobId: string) =>
  (h: JobHistory): Decision =>
    isNew(h) ? { append: queued(jobId), note: "queued" } : { note: "already known" };

describe.skipIf(skip)("decideAndStore: the fast path for new jobs (real nats-server)", () => {
  let server: TestNats;
  let store: EventStore;
  let close: () => Promise<void>;
  let reads = 0;
  let counted: EventStore;
  beforeAll(async () => {
    server = await startNats();
    ({ store, close } = await connectTest(server.url));
    counted = new Proxy(store, {
      get: (t, p, r) => (p === "readAggregate" ? (s: string) => (reads++, t.readAggregate(s)) : (Reflect.get(t, p, r) as unknown)),
    });
  });
  afterAll(async () => {
    await close?.();
    await server?.dispose();
  });
  const o = (msgId: string) => ({ msgId, correlationId: msgId, timeoutMs: 5_000 });
  const types = async (jobId: string) => (await store.readAggregate(`evt.job.${jobId}`)).events.map((e) => e.type);

  it("stores a new job's first event without reading its history", async () => {
    reads = 0;
    const out = await decideAndStore(counted, "fp-1", decideQueued("fp-1"), o("d-1"));
    expect(out).toMatchObject({ note: "queued", type: "JobQueued" });
    expect(reads).toBe(0);
    expect(await types("fp-1")).toEqual(["JobQueued"]);
  });

  it("reads the history once when the job has one, and decides on it", async () => {
    reads = 0;
    const out = await decideAndStore(counted, "fp-1", decideQueued("fp-1"), o("d-2"));
    expect(out.note).toBe("already known");
    expect(reads).toBe(1);
    expect(await types("fp-1")).toEqual(["JobQueued"]);
  });

  it("answers a repeated delivery from the history, as without the fast path", async () => {
    await decideAndStore(counted, "fp-2", decideQueued("fp-2"), o("d-3"));
    const again = await decideAndStore(counted, "fp-2", decideQueued("fp-2"), o("d-3"));
    expect(again.note).toBe("already known");
    expect(await types("fp-2")).toEqual(["JobQueued"]);
  });

  it("never stores two JobQueued for 16 concurrent first deliveries of one job", async () => {
    const outs = await Promise.all(Array.from({ length: 16 }, (_, i) => decideAndStore(counted, "fp-3", decideQueued("fp-3"), o(`c-${i}`))));
    expect(outs.filter((x) => x.type === "JobQueued")).toHaveLength(1);
    expect(outs.filter((x) => x.note === "already known")).toHaveLength(15);
    expect(await types("fp-3")).toEqual(["JobQueued"]);
  });

  it("reads first with guessNew: false", async () => {
    reads = 0;
    await decideAndStore(counted, "fp-4", decideQueued("fp-4"), { ...o("d-4"), guessNew: false });
    expect(reads).toBe(1);
    expect(await types("fp-4")).toEqual(["JobQueued"]);
  });
});
