import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectTest, missing, startNats, waitFor, type TestNats } from "@oneshot/testing";
import { ConcurrencyError, EventStore, type Nats } from "@oneshot/runtime";
import type { DomainEvent } from "@oneshot/proto";

const skip = missing("nats");
const queued = (jobId: string): DomainEvent => ({
  type: "JobQueued",
  data: {
    jobId,
    source: { provider: "local", repo: "local", org: "local", providerJobId: jobId, labels: [] },
    spec: { arch: "amd64", vcpus: 1, memMiB: 256, diskGiB: 1, image: "minimal", timeoutSec: 60 },
    script: "true",
  },
});
const started = (jobId: string): DomainEvent => ({ type: "JobStarted", data: { jobId, reportedBy: "webhook" } });

describe.skipIf(skip)("event store on a real nats-server", () => {
  let server: TestNats;
  let nats: Nats;
  let store: EventStore;
  let close: () => Promise<void>;
  beforeAll(async () => {
    server = await startNats();
    ({ nats, store, close } = await connectTest(server.url));
  });
  afterAll(async () => {
    await close?.();
    await server?.dispose();
  });

  it("appends, reads an aggregate back in order, and replays with a rate", async () => {
    const a = await store.append(queued("rt-1"), { correlationId: "c-1" });
    const b = await store.append(started("rt-1"), { correlationId: "c-1", causationId: a.id, expectedLastSubjectSeq: a.seq });
    expect(b.seq).toBeGreaterThan(a.seq);
    const { events, lastSeq } = await store.readAggregate("evt.job.rt-1");
    expect(events.map((e) => e.type)).toEqual(["JobQueued", "JobStarted"]);
    expect(events[1]!.causationId).toBe(a.id);
    expect(events.every((e) => e.correlationId === "c-1")).toBe(true);
    expect(lastSeq).toBe(b.seq);
    const seen: string[] = [];
    const report = await store.replay("evt.job.*", (e) => void seen.push(e.type));
    expect(seen).toContain("JobStarted");
    expect(report.count).toBe(seen.length);
    expect(report.lastSeq).toBe(b.seq);
  });

  it("reads an empty aggregate as no events and sequence 0", async () => {
    expect(await store.readAggregate("evt.job.nobody")).toEqual({ events: [], lastSeq: 0 });
  });

  it("reads only its own subject's events among interleaved ones (not a prefix's)", async () => {
    const seqs: number[] = [];
    for (let i = 0; i < 3; i++) {
      await store.append(started("il-10"), { correlationId: "x" });
      seqs.push((await store.append(i === 0 ? queued("il-1") : started("il-1"), { correlationId: "y" })).seq);
      await store.append(started("il-1-b"), { correlationId: "z" });
    }
    const { events, lastSeq } = await store.readAggregate("evt.job.il-1");
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [seqs[0], "JobQueued"],
      [seqs[1], "JobStarted"],
      [seqs[2], "JobStarted"],
    ]);
    expect(lastSeq).toBe(seqs[2]);
  });

  it("lets exactly one of two concurrent appenders with the same expected sequence win", async () => {
    const first = await store.append(queued("occ-1"), { correlationId: "c" });
    const results = await Promise.allSettled([
      store.append(started("occ-1"), { correlationId: "a", expectedLastSubjectSeq: first.seq }),
      store.append(started("occ-1"), { correlationId: "b", expectedLastSubjectSeq: first.seq }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(ConcurrencyError);
    expect(lost.reason.retryable).toBe(true);
    expect((await store.readAggregate("evt.job.occ-1")).events).toHaveLength(2);
  });

  it("expects an empty subject with expectedLastSubjectSeq 0", async () => {
    await store.append(queued("occ-0"), { correlationId: "c", expectedLastSubjectSeq: 0 });
    await expect(store.append(queued("occ-0"), { correlationId: "c", expectedLastSubjectSeq: 0 })).rejects.toBeInstanceOf(ConcurrencyError);
  });

  it("stores the same msgId once and says it was a duplicate", async () => {
    const one = await store.append(queued("dup-1"), { correlationId: "d", msgId: "delivery-123" });
    const two = await store.append(queued("dup-1"), { correlationId: "d", msgId: "delivery-123" });
    expect(one.duplicate).toBe(false);
    expect(two.duplicate).toBe(true);
    expect(two.seq).toBe(one.seq);
    expect((await store.readAggregate("evt.job.dup-1")).events).toHaveLength(1);
  });

  it("survives a server restart: the client reconnects and appends again", async () => {
    await store.append(queued("rs-1"), { correlationId: "r" });
    await server.restart();
    const after = await waitFor("append after restart", () => store.append(started("rs-1"), { correlationId: "r" }).catch(() => undefined), 20_000, 200);
    expect(after.seq).toBeGreaterThan(0);
    expect((await store.readAggregate("evt.job.rs-1")).events).toHaveLength(2);
    expect(nats.nc.isClosed()).toBe(false);
  });
});
