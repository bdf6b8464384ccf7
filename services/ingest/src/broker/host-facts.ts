import { subjects } from "@oneshot/proto";
import type { EventStore } from "@oneshot/runtime";

/** A placement the scheduler wrote on a host's subject: the only proof a VM is that host's for that job. */
export interface Placement {
  jobId: string;
  attempt: number;
}

export interface HostFactsView {
  /** The public key of the host's latest HostRegistered. */
  key: string | undefined;
  placement(vmId: string): Placement | undefined;
}

/** Placements remembered per host: far more than a host's VMs alive at once, bounded for a long-lived ingest. */
const MAX_PLACEMENTS = 10_000;

/**
 * What the broker needs to know of each host, read incrementally (a host subject grows with
 * every placement on it, so each look-up reads only what was appended since the previous one):
 * its registered key, from `evt.host.<h>.self` (what only that host writes; older logs kept it
 * on `evt.host.<h>`), and the placements the scheduler made on `evt.host.<h>`, which that host
 * cannot write. Look-ups of one host run one at a time.
 */
export class HostFacts {
  private readonly seen = new Map<string, { seq: number; selfSeq: number; key?: string; placements: Map<string, Placement> }>();
  private readonly queue = new Map<string, Promise<unknown>>();
  constructor(private readonly store: EventStore) {}

  of(hostId: string): Promise<HostFactsView> {
    const prev = this.queue.get(hostId) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(() => this.refresh(hostId));
    this.queue.set(hostId, next);
    void next
      .finally(() => {
        if (this.queue.get(hostId) === next) this.queue.delete(hostId);
      })
      .catch(() => undefined);
    return next;
  }

  private async refresh(hostId: string): Promise<HostFactsView> {
    const subject = subjects.host(hostId);
    let known = this.seen.get(hostId);
    if (!known) this.seen.set(hostId, (known = { seq: 0, selfSeq: 0, placements: new Map() }));
    const self = subjects.hostSelf(hostId);
    const lastSelf = await this.store.lastSeq(self);
    if (lastSelf > known.selfSeq) {
      const k = known;
      await this.store.replay(
        self,
        (e) => {
          if (e.type === "HostRegistered") k.key = e.data.publicKey;
        },
        { startSeq: known.selfSeq + 1, untilSeq: lastSelf },
      );
      known.selfSeq = lastSelf;
    }
    const last = await this.store.lastSeq(subject);
    if (last > known.seq) {
      const k = known;
      await this.store.replay(
        subject,
        (e) => {
          // A registration here predates `.self`: only the newest of the two subjects counts.
          if (e.type === "HostRegistered" && k.selfSeq === 0) k.key = e.data.publicKey;
          if (e.type === "JobScheduled") {
            k.placements.set(e.data.vmId, { jobId: e.data.jobId, attempt: e.data.attempt });
            if (k.placements.size > MAX_PLACEMENTS) k.placements.delete(k.placements.keys().next().value!);
          }
        },
        { startSeq: known.seq + 1, untilSeq: last },
      );
      known.seq = last;
    }
    const { key, placements } = known;
    return { key, placement: (vmId) => placements.get(vmId) };
  }
}
