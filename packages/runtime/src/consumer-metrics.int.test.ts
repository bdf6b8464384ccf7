import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import { connectTest, missing, startNats, waitFor, type TestNats } from "@oneshot/testing";
import { TerminalError, createLogger, runDurableConsumer, type EventStore, type Nats } from "@oneshot/runtime";
import type { DomainEvent } from "@oneshot/proto";

const skip = missing("nats");
const log = createLogger("test", { level: "silent" });
const started = (jobId: string): DomainEvent => ({ type: "JobStarted", data: { jobId, reportedBy: "webhook" } });

/** One sample's value from the exposition text, or undefined when absent. */
const sample = (text: string, name: string, consumer: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(`consumer="${consumer}"`));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
};

describe.skipIf(skip)("a durable consumer's lag and dead letters as metrics, on a real nats-server", () => {
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

  it("counts what is not delivered yet and not acknowledged yet, from the server, and every dead letter", async () => {
    const registry = new Registry();
    for (const j of ["m-1", "m-2", "m-3"]) await store.append(started(j), { correlationId: "m" });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const seen: string[] = [];
    const c = await runDurableConsumer(nats, {
      stream: "EVENTS",
      durable: "metered",
      filterSubject: "evt.job.>",
      log,
      registry,
      handler: async (e) => {
        const id = (e.data as { jobId: string }).jobId;
        seen.push(id);
        if (id === "m-1") await gate; // holds the first message: it stays delivered and unacked
        if (id === "m-2") throw new TerminalError("poison for the test");
      },
    });
    closers.push(c.stop);
    closers.push(async () => release()); // a failed assertion must not leave the handler holding the consumer
    await waitFor("the first delivery", () => seen.includes("m-1"));
    // While the handler holds m-1: one delivered unacked; the rest were pulled in the same batch or wait.
    const held = await registry.metrics();
    expect(sample(held, "oneshot_consumer_ack_pending", "metered")).toBeGreaterThanOrEqual(1);
    expect((sample(held, "oneshot_consumer_pending", "metered") ?? -1) + (sample(held, "oneshot_consumer_ack_pending", "metered") ?? -1)).toBe(3);
    expect(sample(held, "oneshot_dead_letters_total", "metered")).toBe(0);
    release();
    await waitFor("all three handled", () => seen.length >= 3);
    const after = await waitFor(
      "the lag to drain",
      async () => {
        const t = await registry.metrics();
        return sample(t, "oneshot_consumer_pending", "metered") === 0 && sample(t, "oneshot_consumer_ack_pending", "metered") === 0 ? t : undefined;
      },
      10_000,
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}; seen ${seen.join(",")}\n${await registry.metrics()}`);
    });
    expect(sample(after, "oneshot_dead_letters_total", "metered")).toBe(1);
    // More work arrives while nobody consumes it: the lag is what the server counts.
    await c.stop();
    const idle = await runDurableConsumer(nats, {
      stream: "EVENTS",
      durable: "idle",
      filterSubject: "evt.host.>",
      log,
      registry,
      handler: async () => await new Promise(() => undefined),
    });
    closers.push(idle.stop);
    const text = await registry.metrics();
    expect(sample(text, "oneshot_consumer_pending", "metered")).toBeUndefined(); // a stopped consumer is no longer reported
    expect(sample(text, "oneshot_consumer_pending", "idle")).toBe(0);
  });
});
