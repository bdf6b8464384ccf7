import { subjects, type DomainEvent } from "@oneshot/proto";
import type { EventStore, Logger } from "@oneshot/runtime";
import { writeRecord, type VmRecord } from "./run-dir.js";

type VmEventType = "VmBootRequested" | "VmBooted" | "VmBootFailed" | "VmExited" | "VmDestroyed";
const VM_EVENT_TYPES: readonly string[] = ["VmBootRequested", "VmBooted", "VmBootFailed", "VmExited", "VmDestroyed"];
type VmEventOf<T extends VmEventType> = Extract<DomainEvent, { type: T }>;

/**
 * Appends a VM's lifecycle events (docs/event-flow.md): subject `evt.host.<h>.vm.<v>`, msgId
 * `vm:<vmId>:<Type>` (a repeat after a crash is stored once), the placement's correlation id,
 * causation = the VM's previous event (the JobScheduled for the first). A store outage is
 * retried until it works or `stopping()`; the id is then kept in the VM's record so a restart
 * neither repeats nor skips an event.
 */
export class VmEvents {
  constructor(
    private readonly store: EventStore,
    private readonly log: Logger,
    private readonly stopping: () => boolean = () => false,
  ) {}

  /**
   * At a restart: the record learns what the log already holds of the VM. A crash between an
   * append and the record's write left, e.g., VmBooted stored but not noted, and recovery then
   * owed VmExited, not a VmBootFailed that contradicts the log. Returns the types it learnt.
   */
  async syncFromLog(rec: VmRecord, runDir: string): Promise<string[]> {
    const { events } = await this.store.readAggregate(subjects.vm(rec.hostId, rec.vmId));
    const learnt: string[] = [];
    for (const e of events) {
      if (!VM_EVENT_TYPES.includes(e.type) || rec.events[e.type as VmEventType]) continue;
      rec.events[e.type as VmEventType] = e.id;
      learnt.push(e.type);
    }
    if (learnt.length) await writeRecord(runDir, rec);
    return learnt;
  }

  /**
   * Appends once; `duplicate` when the log already had this VM's event of this type (another
   * attempt of ours stored it). `seq`: its stream sequence when this call stored it.
   */
  async append<T extends VmEventType>(
    rec: VmRecord,
    runDir: string | undefined,
    type: T,
    data: VmEventOf<T>["data"],
  ): Promise<{ id: string; duplicate: boolean; seq?: number }> {
    const already = rec.events[type];
    if (already) return { id: already, duplicate: true };
    const order: VmEventType[] = ["VmBootRequested", "VmBooted", "VmBootFailed", "VmExited", "VmDestroyed"];
    const previous = order
      .slice(0, order.indexOf(type))
      .reverse()
      .map((t) => rec.events[t])
      .find(Boolean);
    const event = { type, data } as VmEventOf<T>;
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await this.store.append(event as DomainEvent, {
          msgId: `vm:${rec.vmId}:${type}`,
          correlationId: rec.correlationId,
          causationId: previous ?? rec.scheduledEventId,
        });
        rec.events[type] = r.id;
        if (runDir) await writeRecord(runDir, rec).catch(() => undefined);
        return { id: r.id, duplicate: r.duplicate, ...(r.duplicate ? {} : { seq: r.seq }) };
      } catch (e) {
        if (this.stopping() || !(e as { retryable?: boolean }).retryable) throw e;
        const delay = Math.min(5_000, 200 * 2 ** Math.min(attempt, 5));
        this.log.warn({ err: e, vmId: rec.vmId, type, attempt, delayMs: delay }, "cannot append VM event; retrying");
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}
