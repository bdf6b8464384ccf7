import { followOrdered, type Nats } from "@oneshot/runtime";
import { decode, streams, subjects, type VmOutput } from "@oneshot/proto";

/** Streams a VM's console chunks (stream LOGS) from the beginning, in order, until stopped (through a NATS node's loss: followOrdered). */
export async function followVmOutput(nats: Nats, hostId: string, vmId: string, onChunk: (o: VmOutput["data"]) => void): Promise<() => Promise<void>> {
  return followOrdered(nats.js, {
    stream: streams.logs.name,
    filter: subjects.vmLog(hostId, vmId),
    maxMessages: 256,
    onMessage: (m) => {
      try {
        const msg = decode(m.data, { subject: m.subject, seq: m.seq });
        if (msg.type === "VmOutput") onChunk(msg.data as VmOutput["data"]);
      } catch {
        // A malformed log chunk must not stop the job's output.
      }
    },
  });
}
