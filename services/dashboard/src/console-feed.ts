import { ConsoleFilter, followVmOutput } from "@oneshot/cli/read-models";
import type { Nats } from "@oneshot/runtime";

/**
 * A VM's guest console from its first byte (stream LOGS), live, as `oneshot run` shows it:
 * the job's own lines (the agent's signed markers and the kernel's boot messages dropped) or,
 * `raw`, everything. A chunk hostd sent twice (same offset) is shown once.
 */
export async function followConsole(
  nats: Nats,
  where: { hostId: string; vmId: string },
  raw: boolean,
  onText: (text: string) => void,
): Promise<() => Promise<void>> {
  const filter = new ConsoleFilter(raw);
  let next = 0;
  return followVmOutput(nats, where.hostId, where.vmId, (chunk) => {
    if (chunk.offset < next) return;
    next = chunk.offset + 1; // offsets grow with every chunk; its byte length need not match the decoded text
    const text = filter.push(chunk.text);
    if (text) onText(text);
  });
}
