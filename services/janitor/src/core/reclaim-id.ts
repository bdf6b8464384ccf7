import { createHash } from "node:crypto";
import type { LeakedResource } from "@oneshot/proto";

/**
 * `rc-` + 32 hex chars of SHA-256 over host, inventory sequence and the sorted resources.
 * The same decision on the same inventory (a second tick, a second janitor) gets the same id
 * and so the same Nats-Msg-Id: JetStream stores it once.
 */
export function reclaimIdFor(hostId: string, inventorySeq: number, resources: readonly LeakedResource[]): string {
  const keys = resources.map((r) => `${r.kind}:${r.name}`).sort();
  const h = createHash("sha256")
    .update(`${hostId}\n${inventorySeq}\n${keys.join("\n")}`)
    .digest("hex");
  return `rc-${h.slice(0, 32)}`;
}
