import { EventStore, connectNats, createLogger, ensureStreams, type Nats } from "@oneshot/runtime";

/** A connected client with streams created: what most integration tests start from. */
export async function connectTest(url: string, name = "test"): Promise<{ nats: Nats; store: EventStore; close: () => Promise<void> }> {
  const log = createLogger(name, { level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const nats = await connectNats({ url, name, firstConnectTimeoutMs: 5_000 }, log);
  await ensureStreams(nats.jsm, log);
  return { nats, store: new EventStore(nats.js, nats.jsm), close: () => nats.nc.close() };
}
