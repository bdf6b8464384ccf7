import { encode, type Message } from "@oneshot/proto";
import { newEventId } from "./ids.js";
import type { Nats } from "./nats.js";

/** Publishes a telemetry or log message (short-retention streams): no dedupe, no concurrency. */
export async function publishMessage(nats: Nats, subject: string, message: Message, correlationId: string): Promise<number> {
  const bytes = encode(message, { id: newEventId(), occurredAt: new Date().toISOString(), correlationId, causationId: null });
  const ack = await nats.js.publish(subject, bytes, { timeout: 5_000 });
  return ack.seq;
}
