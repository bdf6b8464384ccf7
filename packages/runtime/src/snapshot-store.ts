import { createHash } from "node:crypto";
import type { KV } from "@nats-io/kv";
import type { Logger } from "./logger.js";
import { decodeState, encodeState } from "./state-codec.js";

/** The KV bucket projections keep their snapshots in (`oneshot admin init` creates it). */
export const SNAPSHOT_BUCKET = "snapshots";
/** Under NATS's default 1 MiB max payload, with room for headers. */
const CHUNK_BYTES = 512 * 1024;
/** The newest snapshots kept whatever their spacing; older ones thin out (see `retain`). */
const KEEP_RECENT = 3;
const KEEP_MAX = 40;

/** What a reader must find in a head to read its state: the encoding and the code that folded it. */
export interface SnapshotVersion {
  schema: number;
  code: string;
}

/** What the head key of a projection's snapshot says; the state itself is in chunk keys. */
export interface SnapshotHead {
  /** The last stream sequence the state includes: replay the tail from `seq + 1`. */
  seq: number;
  /** The state's serialised shape, bumped by hand when its encoding changes. */
  schema: number;
  /** The code that folded it (a hash of the projection's fold): another version's state is never read. */
  code: string;
  chunks: number;
  bytes: number;
  sha256: string;
  writtenAt: string;
  /**
   * The log time of `seq`: the latest occurredAt among the events the state includes (absent in
   * heads written before it existed). Every event up to `seq` happened at or before it, so a
   * view "as of T" (`oneshot state --at T`) may start from this snapshot when `logTime <= T`.
   */
  logTime?: string;
}

export type SnapshotRead = { ok: true; head: SnapshotHead; bytes: Uint8Array } | { ok: false; reason: "none" | "foreign" | "corrupt"; detail: string };

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/**
 * A projection's newest snapshot in a KV bucket: chunks first (`<name>.<seq>.<i>`), then the
 * head (`<name>.head`) that names them, so a reader sees a whole snapshot or the previous one.
 * The head carries the schema and code version, the length and a sha256 of the whole: a reader
 * refuses a foreign or damaged snapshot (and replays the whole log instead), never misreads it.
 * Two writers of one projection (two schedulers) write equally valid snapshots; the later head
 * wins, and a reader that loses a race with a deletion of old chunks sees "corrupt" and replays.
 */
export class SnapshotStore {
  constructor(
    private readonly kv: KV,
    readonly name: string,
  ) {}

  private headKey = () => `${this.name}.head`;
  private chunkKey = (seq: number, i: number) => `${this.name}.${seq}.${i}`;

  private historyKey = () => `${this.name}.history`;

  /** The newest snapshot, if this version can read it. */
  async read(want: SnapshotVersion): Promise<SnapshotRead> {
    const entry = await this.kv.get(this.headKey());
    if (!entry || entry.operation !== "PUT" || entry.value.length === 0) return { ok: false, reason: "none", detail: "no snapshot" };
    let head: SnapshotHead;
    try {
      head = entry.json<SnapshotHead>();
    } catch (e) {
      return { ok: false, reason: "corrupt", detail: `head is not JSON: ${(e as Error).message}` };
    }
    return this.readHead(head, want);
  }

  /**
   * The newest snapshot this version can read whose log time is at or before `at` (the head or
   * one the history kept); a damaged one is skipped for the next older. Heads without a log time
   * are never chosen: whether they are "before" is unknown.
   */
  async readAt(want: SnapshotVersion, at: Date): Promise<SnapshotRead> {
    const heads = await this.heads();
    if (!heads.length) return { ok: false, reason: "none", detail: "no snapshot" };
    const ours = heads.filter((h) => h.schema === want.schema && h.code === want.code);
    if (!ours.length) return { ok: false, reason: "foreign", detail: `no snapshot of schema ${want.schema} code ${want.code}` };
    const before = ours.filter((h) => h.logTime !== undefined && Date.parse(h.logTime) <= at.getTime());
    if (!before.length) return { ok: false, reason: "none", detail: `no snapshot at or before ${at.toISOString()}` };
    let last: SnapshotRead = { ok: false, reason: "none", detail: "no snapshot" };
    for (const h of before) {
      last = await this.readHead(h, want);
      if (last.ok) return last;
    }
    return last;
  }

  /** The head and the older snapshots kept, newest first (valid heads only). */
  async heads(): Promise<SnapshotHead[]> {
    const [head, history] = await Promise.all([
      this.kv.get(this.headKey()).then((e) => (e?.operation === "PUT" ? safeHead(() => e.json<SnapshotHead>()) : undefined)),
      this.readHistory(),
    ]);
    const all = [...(head ? [head] : []), ...history.heads];
    const bySeq = new Map<string, SnapshotHead>();
    for (const h of all) bySeq.set(`${h.seq}/${h.code}`, bySeq.get(`${h.seq}/${h.code}`) ?? h);
    return [...bySeq.values()].sort((a, b) => b.seq - a.seq);
  }

  private async readHistory(): Promise<{ heads: SnapshotHead[]; revision: number }> {
    const e = await this.kv.get(this.historyKey());
    if (!e || e.operation !== "PUT" || e.value.length === 0) return { heads: [], revision: e?.revision ?? 0 };
    try {
      const heads = e.json<{ heads: SnapshotHead[] }>().heads;
      return { heads: Array.isArray(heads) ? heads.flatMap((h) => safeHead(() => h) ?? []) : [], revision: e.revision };
    } catch {
      return { heads: [], revision: e.revision };
    }
  }

  private async readHead(head: SnapshotHead, want: SnapshotVersion): Promise<SnapshotRead> {
    if (!Number.isSafeInteger(head.seq) || !Number.isSafeInteger(head.chunks) || head.chunks < 0 || head.chunks > 10_000) {
      return { ok: false, reason: "corrupt", detail: "head has no valid seq/chunks" };
    }
    if (head.schema !== want.schema || head.code !== want.code) {
      return { ok: false, reason: "foreign", detail: `schema ${head.schema} code ${head.code}; this version reads schema ${want.schema} code ${want.code}` };
    }
    const parts: Uint8Array[] = [];
    for (let i = 0; i < head.chunks; i++) {
      const c = await this.kv.get(this.chunkKey(head.seq, i));
      if (!c || c.operation !== "PUT") return { ok: false, reason: "corrupt", detail: `chunk ${i} of ${head.chunks} is missing` };
      parts.push(c.value);
    }
    const bytes = Buffer.concat(parts);
    if (bytes.length !== head.bytes || sha256(bytes) !== head.sha256)
      return { ok: false, reason: "corrupt", detail: "length or sha256 differs from the head's" };
    return { ok: true, head, bytes };
  }

  /**
   * Writes a snapshot of the state at `seq` (chunks, then the history that keeps it, then the
   * head), and removes the chunks of the snapshots the history no longer keeps. The history is
   * updated by revision, so two writers never drop each other's entries.
   */
  async write(seq: number, version: SnapshotVersion, bytes: Uint8Array, writtenAt: string, logTime?: string): Promise<SnapshotHead> {
    const chunks = Math.ceil(bytes.length / CHUNK_BYTES);
    for (let i = 0; i < chunks; i++) await this.kv.put(this.chunkKey(seq, i), bytes.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES));
    const head: SnapshotHead = { seq, ...version, chunks, bytes: bytes.length, sha256: sha256(bytes), writtenAt, ...(logTime ? { logTime } : {}) };
    let dropped: SnapshotHead[];
    for (let attempt = 0; ; attempt++) {
      const before = await this.readHistory();
      const prevHead = await this.kv.get(this.headKey()).then(
        (e) => (e?.operation === "PUT" ? safeHead(() => e.json<SnapshotHead>()) : undefined),
        () => undefined,
      );
      // A head written before the history existed joins it (its chunks are dropped with it, not leaked).
      const known = [...before.heads, ...(prevHead && !before.heads.some((h) => h.seq === prevHead.seq) ? [prevHead] : [])];
      // Only this version's: another version's are foreign to every reader of this one.
      const kept = retain([head, ...known.filter((h) => h.seq !== seq && h.schema === version.schema && h.code === version.code)]);
      try {
        if (before.revision === 0) await this.kv.create(this.historyKey(), JSON.stringify({ heads: kept }));
        else await this.kv.update(this.historyKey(), JSON.stringify({ heads: kept }), before.revision);
      } catch (e) {
        if (attempt < 4) continue; // another writer moved the history: merge with theirs
        throw e;
      }
      dropped = known.filter((h) => h.seq !== seq && !kept.some((k) => k.seq === h.seq));
      break;
    }
    const newest = (await this.heads())[0];
    if (!newest || newest.seq <= seq) await this.kv.put(this.headKey(), JSON.stringify(head));
    for (const h of dropped) {
      for (let i = 0; i < h.chunks; i++) await this.kv.delete(this.chunkKey(h.seq, i)).catch(() => undefined);
    }
    return head;
  }
}

/**
 * Which snapshots to keep, newest first: the newest few, then one per power-of-two distance
 * (in stream sequences) from the newest, the oldest of each: a view "as of T" always finds one
 * whose tail is at most about as long as its distance from now, and the count grows with the
 * log's length only as its logarithm.
 */
export function retain(heads: readonly SnapshotHead[]): SnapshotHead[] {
  const sorted = [...heads].sort((a, b) => b.seq - a.seq);
  const newest = sorted[0];
  if (!newest) return [];
  const kept = sorted.slice(0, KEEP_RECENT);
  const byBucket = new Map<number, SnapshotHead>();
  for (const h of sorted.slice(KEEP_RECENT)) byBucket.set(Math.floor(Math.log2(Math.max(1, newest.seq - h.seq))), h);
  return [...kept, ...[...byBucket.values()].sort((a, b) => b.seq - a.seq)].slice(0, KEEP_MAX);
}

function safeHead(read: () => SnapshotHead): SnapshotHead | undefined {
  try {
    const h = read();
    return Number.isSafeInteger(h.seq) && Number.isSafeInteger(h.chunks) && h.chunks >= 0 && h.chunks <= 10_000 ? h : undefined;
  } catch {
    return undefined;
  }
}

export interface SnapshotPolicy {
  /** Write after this many stream sequences since the last snapshot (0: never by count). */
  everyEvents: number;
  /** Or at the first event this long after the last snapshot (0: never by time). */
  everyMs: number;
}

export interface LoadedSnapshot<S> {
  state: S;
  seq: number;
  head: SnapshotHead;
}

/**
 * The newest snapshot this code can read (with `at`: the newest whose log time is at or before
 * it), decoded and checked by `isState`; or undefined, with the reason logged: then replay
 * everything. Nothing here throws: a snapshot only ever saves time.
 */
export async function loadSnapshot<S>(
  store: SnapshotStore,
  version: SnapshotVersion,
  log: Pick<Logger, "info" | "warn">,
  isState: (s: unknown, head: SnapshotHead) => s is S,
  o: { at?: Date; decode?: (bytes: Uint8Array) => unknown } = {},
): Promise<LoadedSnapshot<S> | undefined> {
  const r = await (o.at ? store.readAt(version, o.at) : store.read(version)).catch((e: unknown) => ({
    ok: false as const,
    reason: "corrupt" as const,
    detail: `read failed: ${(e as Error).message}`,
  }));
  if (!r.ok) {
    (r.reason === "corrupt" ? log.warn.bind(log) : log.info.bind(log))(
      { snapshot: store.name, reason: r.reason, detail: r.detail },
      "no usable snapshot: replaying the whole log",
    );
    return undefined;
  }
  try {
    const state = (o.decode ?? decodeState)(r.bytes);
    if (!isState(state, r.head)) throw new Error(`not a ${store.name} state`);
    return { state, seq: r.head.seq, head: r.head };
  } catch (e) {
    log.warn({ snapshot: store.name, reason: "corrupt", detail: (e as Error).message, seq: r.head.seq }, "no usable snapshot: replaying the whole log");
    return undefined;
  }
}

/**
 * Writes a projection's state every N events or T ms (whichever first), one write at a time.
 * The state is encoded synchronously, between two events, so the bytes are exactly the state
 * at `seq`; the upload runs in the background and a failure only means the next one is due.
 * `see` each event folded (replayed or followed): the head's log time is the latest occurredAt.
 */
export class SnapshotWriter<S> {
  private writtenSeq = 0;
  private writtenAt: number;
  private logTimeMs = Number.NEGATIVE_INFINITY;
  private busy: Promise<void> | undefined;

  constructor(
    private readonly o: {
      store: SnapshotStore;
      version: SnapshotVersion;
      policy: SnapshotPolicy;
      clock: () => number;
      log: Logger;
      /** Where the state started: the loaded snapshot's head, or nothing (a full replay). */
      from?: SnapshotHead;
      encode?: (state: S) => Uint8Array;
    },
  ) {
    this.writtenSeq = o.from?.seq ?? 0;
    this.writtenAt = o.clock();
    if (o.from?.logTime) this.logTimeMs = Date.parse(o.from.logTime);
  }

  /** An event folded into the state (before maybeWrite of its sequence). */
  see(e: { occurredAt: string }): void {
    const t = Date.parse(e.occurredAt);
    if (t > this.logTimeMs) this.logTimeMs = t;
  }

  /** Whether `seq` is far enough past the last snapshot that one is due by count (after a replay). */
  dueByCount(seq: number): boolean {
    return this.o.policy.everyEvents > 0 && seq - this.writtenSeq >= this.o.policy.everyEvents;
  }

  /** After each event read: starts a write when one is due. */
  maybeWrite(state: S, seq: number): void {
    if (this.busy || seq <= this.writtenSeq) return;
    const byTime = this.o.policy.everyMs > 0 && this.o.clock() - this.writtenAt >= this.o.policy.everyMs;
    if (this.dueByCount(seq) || byTime) void this.write(state, seq);
  }

  /** Writes now (after a long replay); resolves when stored or failed. */
  write(state: S, seq: number): Promise<void> {
    if (this.busy) return this.busy;
    const started = performance.now();
    const bytes = (this.o.encode ?? encodeState)(state);
    this.writtenSeq = seq;
    this.writtenAt = this.o.clock();
    const logTime = Number.isFinite(this.logTimeMs) ? new Date(this.logTimeMs).toISOString() : undefined;
    this.busy = this.o.store
      .write(seq, this.o.version, bytes, new Date(this.writtenAt).toISOString(), logTime)
      .then(
        (h) =>
          this.o.log.info(
            { snapshot: this.o.store.name, seq, bytes: h.bytes, chunks: h.chunks, ms: Math.round(performance.now() - started) },
            "snapshot written",
          ),
        (e: unknown) => this.o.log.warn({ err: e, snapshot: this.o.store.name, seq }, "snapshot not written; the next one is due at the next event"),
      )
      .finally(() => (this.busy = undefined));
    return this.busy;
  }

  /** Waits for a write in progress (at shutdown). */
  async idle(): Promise<void> {
    await this.busy;
  }
}
