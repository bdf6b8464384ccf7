import { pack } from "msgpackr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectTest, missing, startNats, waitFor, type TestNats } from "@oneshot/testing";
import { RetryableError, TerminalError, createLogger, dlqHeaders, runDurableConsumer, type EventStore, type Nats } from "@oneshot/runtime";
import { encode, type DomainEvent } from "@oneshot/proto";

const skip = missing("nats");
const log = createLogger("test", { level: "silent" });
const started = (jobId: string): DomainEvent => ({ type: "JobStarted", data: { jobId, reportedBy: "webhook" } });

describe.skipIf(skip)("durable consumer loop on a real nats-server", () => {
  let server: TestNats;
  let nats: Nats;
  let store: EventStore;
  const closers: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    server = await startNats();
    const c = await connectTest(server.url);
    ({ nats, store } = c);
    closers.push(c.close);
  });
  afterAll(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await server?.dispose();
  });

  const dlqCount = async (durable: string) => {
    try {
      const info = await nats.jsm.streams.info("DLQ", { subjects_filter: `dlq.${durable}` });
      return info.state.subjects?.[`dlq.${durable}`] ?? 0;
    } catch {
      return 0;
    }
  };

  it("redelivers the message of a consumer that died mid-handler", async () => {
    await store.append(started("crash-1"), { correlationId: "k" });
    // First consumer: its own connection, which we drop while the handler is running.
    const doomed = await connectTest(server.url, "doomed");
    let entered = false;
    await runDurableConsumer(doomed.nats, {
      stream: "EVENTS",
      durable: "crashy",
      filterSubject: "evt.job.crash-1",
      log,
      ackWaitMs: 1_000,
      handler: async () => {
        entered = true;
        await new Promise(() => undefined); // never finishes: the process "dies" below
      },
    });
    await waitFor("first delivery", () => entered);
    await doomed.nats.nc.close();
    const seen: number[] = [];
    const second = await runDurableConsumer(nats, {
      stream: "EVENTS",
      durable: "crashy",
      filterSubject: "evt.job.crash-1",
      log,
      ackWaitMs: 1_000,
      handler: async (_e, m) => void seen.push(m.info.deliveryCount),
    });
    closers.push(second.stop);
    const counts = await waitFor("redelivery", () => (seen.length ? seen : undefined), 10_000);
    expect(counts[0]).toBeGreaterThanOrEqual(2);
  });

  it("dead-letters a malformed message with the reason and keeps consuming after it", async () => {
    await nats.js.publish("evt.job.poison-1", pack({ type: "JobStarted", version: 1, data: { jobId: 7 } }));
    await store.append(started("poison-1"), { correlationId: "p" });
    const handled: string[] = [];
    const c = await runDurableConsumer(nats, {
      stream: "EVENTS",
      durable: "poisoned",
      filterSubject: "evt.job.poison-1",
      log,
      handler: async (e) => void handled.push(e.type),
    });
    closers.push(c.stop);
    await waitFor("good message after the poison one", () => handled.length === 1);
    await waitFor("dead letter", async () => (await dlqCount("poisoned")) === 1);
    const dl = await nats.jsm.streams.getMessage("DLQ", { last_by_subj: "dlq.poisoned" });
    expect(dl?.header.get(dlqHeaders.reason)).toMatch(/bad envelope|invalid/);
    expect(dl?.header.get(dlqHeaders.subject)).toBe("evt.job.poison-1");
  });

  it("dead-letters a valid message that breaks the subject table (a host speaking for another), never handing it over", async () => {
    const res = { vcpus: 2, memMiB: 2048, diskGiB: 10 };
    const heartbeat = { hostId: "metal-01", runningVms: 0, used: res, capacity: res, accel: "tcg" as const, draining: false, uptimeSec: 1 };
    const meta = { id: "019375e0-0000-7000-8000-0000000000aa", occurredAt: new Date().toISOString(), correlationId: "x", causationId: null };
    // Valid on its own, misplaced here: a host's credential writing another host's deregistration.
    await nats.js.publish("evt.host.metal-01", encode({ type: "HostDeregistered", data: { hostId: "metal-02", reason: "forged" } }, meta));
    await nats.js.publish("evt.host.metal-01", encode({ type: "HostHeartbeat", data: heartbeat }, meta));
    await nats.js.publish("evt.host.metal-01", encode({ type: "HostCordoned", data: { hostId: "metal-01", reason: "real" } }, meta));
    const handled: string[] = [];
    const c = await runDurableConsumer(nats, {
      stream: "EVENTS",
      durable: "misplaced",
      filterSubject: "evt.host.metal-01",
      log,
      handler: async (e) => void handled.push(`${e.type}:${(e.data as { hostId: string }).hostId}`),
    });
    closers.push(c.stop);
    await waitFor("the well-placed message", () => handled.length === 1);
    await waitFor("two dead letters", async () => (await dlqCount("misplaced")) === 2);
    expect(handled).toEqual(["HostCordoned:metal-01"]);
    const dl = await nats.jsm.streams.getMessage("DLQ", { last_by_subj: "dlq.misplaced" });
    expect(dl?.header.get(dlqHeaders.reason)).toMatch(/misplaced HostHeartbeat: HostHeartbeat is not an event/);
  });

  it("retries a retryable failure, then dead-letters when attempts run out; terminal goes at once", async () => {
    await store.append(started("retry-1"), { correlationId: "r" });
    await store.append(started("term-1"), { correlationId: "t" });
    let attempts = 0;
    const r = await runDurableConsumer(nats, {
      stream: "EVENTS",
      durable: "retrying",
      filterSubject: "evt.job.retry-1",
      log,
      maxAttempts: 3,
      backoffMs: [50],
      handler: async () => {
        attempts++;
        throw new RetryableError("upstream down");
      },
    });
    let termCalls = 0;
    const t = await runDurableConsumer(nats, {
      stream: "EVENTS",
      durable: "terminal",
      filterSubject: "evt.job.term-1",
      log,
      handler: async () => {
        termCalls++;
        throw new TerminalError("job spec cannot run here");
      },
    });
    closers.push(r.stop, t.stop);
    await waitFor("retry dead letter", async () => (await dlqCount("retrying")) === 1, 10_000);
    await waitFor("terminal dead letter", async () => (await dlqCount("terminal")) === 1, 10_000);
    expect(attempts).toBe(3);
    expect(termCalls).toBe(1);
    const dl = await nats.jsm.streams.getMessage("DLQ", { last_by_subj: "dlq.retrying" });
    expect(dl?.header.get(dlqHeaders.reason)).toMatch(/gave up after 3 attempts/);
  });
});
