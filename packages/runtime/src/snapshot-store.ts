import { createHash } from "node:crypto";
import type { KV } from "@nats-io/kv";

/** The KV bucket projections keep their snapshots in (`oneshot admin init` creates it). */
export const SNAPSHOT_BUCKET = "snapshots";
/** Under NATS's default 1 MiB max payload, with room for headers. */
const CHUNK_BYTES = 512 * 1024;

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
}

export type SnapshotRead =
  | { ok: true; head: SnapshotHead; bytes: Uint8Array }
  | { ok: false; reason: "none" | "foreign" | "corrupt"; detail: string };

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
  constructor(private readonly kv: KV, readonly name: string) {}

  private headKey = () => `${this.name}.head`;
  private chunkKey = (seq: number, i: number) => `${this.name}.${seq}.${i}`;

  async read(want: { schema: number; code: string }): Promise<SnapshotRead> {
    const entry = await this.kv.get(this.headKey());
    if (!entry || entry.operation !== "PUT" || entry.value.length === 0) return { ok: false, reason: "none", detail: "no snapshot" };
    let head: SnapshotHead;
    try {
      head = entry.json<SnapshotHead>();
    } catch (e) {
      return { ok: false, reason: "corrupt", detail: `head is not JSON: ${(e as Error).message}` };
    }
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
    if (bytes.length !== head.bytes || sha256(bytes) !== head.sha256) return { ok: false, reason: "corrupt", detail: "length or sha256 differs from the head's" };
    return { ok: true, head, bytes };
  }

  /** Writes a snapshot of the state at `seq`, then removes the chunks of the one it replaced. */
  async write(seq: number, version: { schema: number; code: string }, bytes: Uint8Array, writtenAt: string): Promise<SnapshotHead> {
    const before = await this.kv.get(this.headKey()).then((e) => (e?.operation === "PUT" ? safeHead(() => e.json<SnapshotHead>()) : undefined), () => undefined);
    const chunks = Math.ceil(bytes.length / CHUNK_BYTES);
    for (let i = 0; i < chunks; i++) await this.kv.put(this.chunkKey(seq, i), bytes.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES));
    const head: SnapshotHead = { seq, ...version, chunks, bytes: bytes.length, sha256: sha256(bytes), writtenAt };
    await this.kv.put(this.headKey(), JSON.stringify(head));
    if (before && before.seq !== seq) {
      for (let i = 0; i < before.chunks; i++) await this.kv.delete(this.chunkKey(before.seq, i)).catch(() => undefined);
    }
    return head;
  }
}

function safeHead(read: () => SnapshotHead): SnapshotHead | undefined {
  try {
    const h = read();
    return Number.isSafeInteger(h.seq) && Number.isSafeInteger(h.chunks) && h.chunks >= 0 && h.chunks <= 10_000 ? h : undefined;
  } catch {
    return undefined;
  }
}
