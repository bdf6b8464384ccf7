import { DeliverPolicy } from "@nats-io/jetstream";
import { PULL_EXPIRES_MS, type Nats } from "@oneshot/runtime";
import { decode, streams, subjects, type VmOutput } from "@oneshot/proto";

/** Streams a VM's console chunks (stream LOGS) from the beginning, in order, until stopped. */
export async function followVmOutput(nats: Nats, hostId: string, vmId: string, onChunk: (o: VmOutput["data"]) => void): Promise<() => Promise<void>> {
  const consumer = await nats.js.consumers.get(streams.logs.name, {
    filter_subjects: subjects.vmLog(hostId, vmId),
    deliver_policy: DeliverPolicy.All,
  });
  const iter = await consumer.consume({ max_messages: 256, expires: PULL_EXPIRES_MS });
  const done = (async () => {
    for await (const m of iter) {
      try {
        const msg = decode(m.data, { subject: m.subject, seq: m.seq });
        if (msg.type === "VmOutput") onChunk(msg.data as VmOutput["data"]);
      } catch {
        // A malformed log chunk must not stop the job's output.
      }
    }
  })();
  return async () => {
    await iter.close();
    await done;
    // An ordered consumer outlives its iterator by minutes on the server: remove it now (a dashboard opens one per page view).
    await consumer.delete().catch(() => undefined);
  };
}
