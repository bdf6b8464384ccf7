import { subjects } from "@oneshot/proto";
import type { EventStore } from "@oneshot/runtime";

/**
 * Each host's registered public key (its latest HostRegistered), read from `evt.host.<hostId>`
 * incrementally: a host subject grows with every placement on it, so each look-up reads only
 * what was appended since the previous one. Look-ups of one host run one at a time.
 */
export class HostKeys {
  private readonly seen = new Map<string, { seq: number; key?: string }>();
  private readonly queue = new Map<string, Promise<unknown>>();
  constructor(private readonly store: EventStore) {}

  keyOf(hostId: string): Promise<string | undefined> {
    const prev = this.queue.get(hostId) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(() => this.refresh(hostId));
    this.queue.set(hostId, next);
    void next.finally(() => {
      if (this.queue.get(hostId) === next) this.queue.delete(hostId);
    }).catch(() => undefined);
    return next;
  }

  private async refresh(hostId: string): Promise<string | undefined> {
    const subject = subjects.host(hostId);
    const known = this.seen.get(hostId) ?? { seq: 0 };
    const last = await this.store.lastSeq(subject);
    if (last > known.seq) {
      const next = { ...known };
      await this.store.replay(subject, (e) => {
        if (e.type === "HostRegistered") next.key = e.data.publicKey;
      }, { startSeq: known.seq + 1, untilSeq: last });
      next.seq = last;
      this.seen.set(hostId, next);
      return next.key;
    }
    return known.key;
  }
}
