import { decode, streams, subjects, type HostHeartbeat, type HostInventory } from "@oneshot/proto";
import { followOrdered, type Logger, type Nats } from "@oneshot/runtime";
import { observeHeartbeat, observeInventory, type ObservedHost } from "./core/observed-state.js";

/**
 * The latest heartbeat and inventory of every host, read from TELEMETRY: first the last
 * message of each subject (what the stream still holds), then live. A heartbeat counts from
 * when this janitor received it, by its own clock: a host's occurredAt is the host's clock
 * (skewed, or frozen and resumed) and never decides whether it is alive (docs/fencing.md).
 * Messages read at start count as received then, which is what `watchingSince` says anyway.
 * Inventories count from when they were received too: leak grace periods compare them with
 * events the control plane wrote (a JobCancelled, a VmDestroyed), so a host an hour behind
 * would have every inventory look older than the cancel, and its VMs would never be reclaimed.
 */
export class TelemetryView {
  readonly hosts = new Map<string, ObservedHost>();
  /** When we started (or resumed, after a NATS outage) reading: silence before that is not the hosts'. */
  watchingSince: number;
  private stopFn: (() => Promise<void>) | undefined;

  constructor(
    private readonly nats: Nats,
    private readonly o: { clock: () => number; log: Logger; onInventory?: (hostId: string) => void },
  ) {
    this.watchingSince = o.clock();
  }

  async start(): Promise<void> {
    // Through a NATS node's loss (followOrdered); a new consumer means a blind moment, like a reconnect.
    this.stopFn = await followOrdered(this.nats.js, {
      stream: streams.telemetry.name,
      filter: "tel.host.>",
      start: "last-per-subject",
      onMessage: (m) => {
        try {
          const msg = decode(m.data, { subject: m.subject, seq: m.seq });
          if (msg.type === "HostHeartbeat") this.heartbeat(msg.data, this.o.clock(), m.subject);
          else if (msg.type === "HostInventory") this.inventory(msg.data, this.o.clock(), m.seq, m.subject);
        } catch (e) {
          this.o.log.warn({ err: e, subject: m.subject, seq: m.seq }, "telemetry message skipped");
        }
      },
      onRestart: (r) => {
        this.watchingSince = this.o.clock();
        this.o.log.warn(r, "telemetry follow restarted: host liveness judged anew from now");
      },
    });
    void (async () => {
      for await (const s of this.nats.nc.status()) if (s.type === "reconnect") this.watchingSince = this.o.clock();
    })();
  }

  async stop(): Promise<void> {
    await this.stopFn?.();
  }

  private heartbeat(d: HostHeartbeat["data"], at: number, subject: string): void {
    if (subject !== subjects.heartbeat(d.hostId)) return; // a host speaks only for itself
    this.hosts.set(d.hostId, observeHeartbeat(this.hosts.get(d.hostId), d.hostId, at));
  }

  private inventory(d: HostInventory["data"], at: number, seq: number, subject: string): void {
    if (subject !== subjects.inventory(d.hostId)) return;
    this.hosts.set(d.hostId, observeInventory(this.hosts.get(d.hostId), d, at, seq));
    this.o.onInventory?.(d.hostId);
  }
}
