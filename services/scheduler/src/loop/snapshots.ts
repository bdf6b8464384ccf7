import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { codeVersionOf, decodeState, encodeState, type Logger, type SnapshotStore } from "@oneshot/runtime";
import { initialState, type SchedulerState } from "../core/state.js";

/** Bumped by hand when the encoding of the state changes (state-codec.ts). */
export const SCHEDULER_SNAPSHOT_SCHEMA = 1;

/**
 * The version a snapshot must carry to be read: the schema, a hash of core/ (evolve and
 * everything it calls) and the creation time of the stream it was folded from. A scheduler of
 * other code, or on a stream recreated since, replays the whole log and writes its own.
 */
export function schedulerSnapshotVersion(streamCreated: string): { schema: number; code: string } {
  return { schema: SCHEDULER_SNAPSHOT_SCHEMA, code: `${codeVersionOf(join(dirname(fileURLToPath(import.meta.url)), "..", "core"))}@${streamCreated}` };
}

export interface SnapshotPolicy {
  /** Write after this many stream sequences since the last snapshot (0: never by count). */
  everyEvents: number;
  /** Or at the first event this long after the last snapshot (0: never by time). */
  everyMs: number;
}

/** The state's fields, each of the kind initialState() gives it: a decoded snapshot must have them all. */
function hasStateShape(s: unknown): s is SchedulerState {
  if (typeof s !== "object" || s === null) return false;
  const got = s as Record<string, unknown>;
  return Object.entries(initialState()).every(([k, v]) =>
    v instanceof Map ? got[k] instanceof Map : v instanceof Set ? got[k] instanceof Set : typeof got[k] === typeof v);
}

/** The newest snapshot this code can read, or undefined (with the reason logged): then replay everything. */
export async function loadSnapshot(store: SnapshotStore, version: { schema: number; code: string }, log: Logger): Promise<{ state: SchedulerState; seq: number } | undefined> {
  const r = await store.read(version).catch((e: unknown) => ({ ok: false as const, reason: "corrupt" as const, detail: `read failed: ${(e as Error).message}` }));
  if (!r.ok) {
    (r.reason === "corrupt" ? log.warn.bind(log) : log.info.bind(log))({ reason: r.reason, detail: r.detail }, "no usable snapshot: replaying the whole log");
    return undefined;
  }
  try {
    const state = decodeState<unknown>(r.bytes);
    if (!hasStateShape(state) || state.lastSeq > r.head.seq) throw new Error("not a scheduler state");
    return { state, seq: r.head.seq };
  } catch (e) {
    log.warn({ reason: "corrupt", detail: (e as Error).message, seq: r.head.seq }, "no usable snapshot: replaying the whole log");
    return undefined;
  }
}

/**
 * Writes the projection's state every N events or T ms (whichever first), one write at a time.
 * The state is encoded synchronously, between two events, so the bytes are exactly the state
 * at `seq`; the upload runs in the background and a failure only means the next one is due.
 */
export class SnapshotWriter {
  private writtenSeq = 0;
  private writtenAt: number;
  private busy: Promise<void> | undefined;

  constructor(private readonly o: { store: SnapshotStore; version: { schema: number; code: string }; policy: SnapshotPolicy; clock: () => number; log: Logger; fromSeq: number }) {
    this.writtenSeq = o.fromSeq;
    this.writtenAt = o.clock();
  }

  /** After each event read: starts a write when one is due. */
  maybeWrite(state: SchedulerState, seq: number): void {
    if (this.busy || seq <= this.writtenSeq) return;
    const { everyEvents, everyMs } = this.o.policy;
    const byCount = everyEvents > 0 && seq - this.writtenSeq >= everyEvents;
    const byTime = everyMs > 0 && this.o.clock() - this.writtenAt >= everyMs;
    if (byCount || byTime) void this.write(state, seq);
  }

  /** Writes now (after a long replay); resolves when stored or failed. */
  write(state: SchedulerState, seq: number): Promise<void> {
    if (this.busy) return this.busy;
    const started = performance.now();
    const bytes = encodeState(state);
    this.writtenSeq = seq;
    this.writtenAt = this.o.clock();
    this.busy = this.o.store.write(seq, this.o.version, bytes, new Date(this.writtenAt).toISOString()).then(
      (h) => this.o.log.info({ seq, bytes: h.bytes, chunks: h.chunks, ms: Math.round(performance.now() - started) }, "snapshot written"),
      (e: unknown) => this.o.log.warn({ err: e, seq }, "snapshot not written; the next one is due at the next event"),
    ).finally(() => (this.busy = undefined));
    return this.busy;
  }

  /** Waits for a write in progress (at shutdown). */
  async idle(): Promise<void> {
    await this.busy;
  }
}
