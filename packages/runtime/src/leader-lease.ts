import type { KV } from "@nats-io/kv";
import type { Logger } from "pino";

/**
 * One instance of a role acts at a time (the janitor; ingest's reconciler): the leader holds
 * key `key` in a KV bucket whose TTL (the stream's max age) deletes the key when the leader
 * stops renewing it.
 *
 * Why a lease rather than optimistic concurrency alone: these roles append to host subjects
 * that hostd and the scheduler also write, so an expected-sequence check would conflict with
 * them all the time, and two instances would both do (and log, count, spend API budget on)
 * all the work. With a lease, the standby follows the same log (warm: nothing to replay at
 * takeover) and stays silent. The lease is not a fence on its own: a leader that stalls past
 * its TTL could act once after a standby took over. That is harmless because every append is
 * idempotent (msgIds derived from the decision: `reclaim:<id>`, `lost:<host>:<registration>`,
 * `vanished:<host>:<vm>`, `retired:<host>:<vm>`, `redelivered:<delivery>`) and job decisions
 * carry the job subject's expected sequence. The holder also stops acting on its own clock: it counts
 * itself leader only until `renewed-at-send + TTL - margin`, which is before the server can
 * expire the key.
 */
export class LeaderLease {
  private revision: number | undefined;
  private heldUntil = 0;
  private lastHolder: string | undefined;
  /** What onChange was last told: a lease that lapsed by the clock while frozen must still be reported. */
  private reported = false;

  constructor(
    private readonly kv: KV,
    private readonly o: {
      key: string;
      holder: string;
      ttlMs: number;
      clock: () => number;
      log: Logger;
      onChange: (leader: boolean) => void;
      /** Names the role in log lines (`janitor`, `reconcile`). */
      role: string;
    },
  ) {}

  /** True while this instance holds the lease by its own clock. */
  isLeader(): boolean {
    return this.revision !== undefined && this.o.clock() < this.heldUntil;
  }

  private inflight: Promise<void> | undefined;

  /**
   * Renews the lease if held, else tries to take it. Call every TTL/3. Never throws. A call
   * while one is in flight (NATS slow, a renewal waiting out its timeout) joins it: two renewals
   * with the same revision would have one fail as "wrong sequence" and give up a lease we hold.
   */
  tick(): Promise<void> {
    this.inflight ??= this.renew().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async renew(): Promise<void> {
    const sentAt = this.o.clock();
    const value = JSON.stringify({ holder: this.o.holder, renewedAt: new Date(sentAt).toISOString() });
    try {
      this.revision = this.revision === undefined ? await this.kv.create(this.o.key, value) : await this.kv.update(this.o.key, value, this.revision);
      this.heldUntil = sentAt + this.o.ttlMs - Math.max(500, this.o.ttlMs / 10);
    } catch (e) {
      if (isWrongSequence(e)) {
        // Someone else holds it (or our key expired and was taken): we are a standby.
        if (this.revision !== undefined) this.o.log.warn({ role: this.o.role, holder: this.o.holder }, "lost the lease");
        this.revision = undefined;
        this.heldUntil = 0;
        await this.noteHolder();
      } else {
        // NATS unreachable: keep the revision; the lease lapses by our own clock if this lasts.
        this.o.log.warn({ role: this.o.role, err: e }, "lease renewal failed");
      }
    }
    const is = this.isLeader();
    if (is !== this.reported) {
      this.reported = is;
      this.o.log.info({ role: this.o.role, holder: this.o.holder, leader: is }, is ? "took the lease: acting" : "lease lapsed: standing by");
      this.o.onChange(is);
    }
  }

  /** Gives the lease up (graceful shutdown) so a standby takes over without waiting a TTL. */
  async release(): Promise<void> {
    if (this.revision === undefined) return;
    const rev = this.revision;
    this.revision = undefined;
    this.heldUntil = 0;
    this.reported = false;
    this.o.onChange(false);
    await this.kv.delete(this.o.key, { previousSeq: rev }).catch(() => undefined);
  }

  private async noteHolder(): Promise<void> {
    const entry = await this.kv.get(this.o.key).catch(() => null);
    const holder = entry && entry.operation === "PUT" ? (JSON.parse(entry.string()) as { holder?: string }).holder : undefined;
    if (holder && holder !== this.lastHolder) this.o.log.info({ role: this.o.role, leader: holder }, "another instance holds the lease: standing by");
    this.lastHolder = holder;
  }
}

function isWrongSequence(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === 10071 || code === 10164 || /wrong last sequence/i.test(String((e as Error)?.message));
}

/**
 * A lease's TTL is its bucket's (the key must expire when the leader stops renewing): the
 * bucket's TTL, with a warning when the configuration asks for another; a bucket without one
 * is refused, since a dead leader would then hold the lease forever.
 */
export async function leaseTtlOf(kv: KV, o: { bucket: string; configuredMs: number; envName: string; log: Logger }): Promise<number> {
  const ttl = (await kv.status()).ttl;
  if (!ttl) throw new Error(`KV bucket \`${o.bucket}\` has no TTL: a dead leader would hold the lease forever; recreate it with a TTL (${o.envName})`);
  if (ttl !== o.configuredMs)
    o.log.warn(
      { bucket: o.bucket, bucketTtlMs: ttl, configuredMs: o.configuredMs },
      `KV bucket \`${o.bucket}\` has another TTL than ${o.envName}; using the bucket's`,
    );
  return ttl;
}
