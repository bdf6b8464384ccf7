import { createHash } from "node:crypto";
import type { KV } from "@nats-io/kv";
import type { Logger } from "@oneshot/runtime";

export const RUNNER_REPLIES_BUCKET = "ingest-runner-replies";
/** The bucket's TTL: as long as a host may ask again for the same VM (its retries, a restart). */
export const RUNNER_REPLIES_TTL_MS = 10 * 60_000;

/**
 * The broker's answers shared by every ingest replica, in a KV bucket: hostd asks again when a
 * reply is lost, and the queue group may hand the retry to another replica, which must answer
 * the same (a second mint fails with 409 on GitHub, or leaves a second runner on GitLab).
 *
 * Per request key: `pending` (a replica is minting; others wait for it) then `done` with the
 * answer. Only answers `keep` accepts are stored: a sealed box only the host can open and the
 * runner's name, never a plaintext secret. A claim older than `claimTimeoutMs` (its replica
 * died mid-mint) is taken over. Without the bucket (a dev stack never provisioned), answers
 * are per replica, and a warning says so once.
 */
export class SharedReplies<T> {
  private warned = false;
  constructor(
    private readonly kv: KV | undefined,
    private readonly o: { holder: string; log: Logger; claimTimeoutMs?: number; pollMs?: number; now?: () => number },
  ) {}

  async get(key: string, make: () => Promise<T>, keep: (v: T) => boolean, pending: () => T): Promise<T> {
    const kv = this.kv;
    if (!kv) {
      if (!this.warned)
        this.o.log.warn({ bucket: RUNNER_REPLIES_BUCKET }, "no shared reply bucket: with several ingest replicas a host's retry may be minted twice");
      this.warned = true;
      return make();
    }
    const k = createHash("sha256").update(key).digest("hex");
    const now = this.o.now ?? Date.now;
    const claimTimeout = this.o.claimTimeoutMs ?? 30_000;
    const deadline = now() + claimTimeout;
    for (;;) {
      const entry = await kv.get(k).catch(() => null);
      const value = entry && entry.operation === "PUT" ? entry.json<Stored<T>>() : undefined;
      if (value?.state === "done") return value.answer;
      if (value?.state === "pending" && now() - value.at < claimTimeout) {
        if (now() > deadline) return pending();
        await new Promise((r) => setTimeout(r, this.o.pollMs ?? 200));
        continue;
      }
      // Absent, deleted, or a stale claim: take it (a revision check, so one replica wins).
      const claim = JSON.stringify({ state: "pending", holder: this.o.holder, at: now() } satisfies Stored<T>);
      try {
        if (entry) await kv.update(k, claim, entry.revision);
        else await kv.create(k, claim);
      } catch {
        continue; // another replica claimed it first: wait for its answer
      }
      let answer: T;
      try {
        answer = await make();
      } catch (e) {
        await kv.delete(k).catch(() => undefined);
        throw e;
      }
      if (keep(answer))
        await kv
          .put(k, JSON.stringify({ state: "done", answer } satisfies Stored<T>))
          .catch((e: unknown) => this.o.log.warn({ err: e }, "cannot share the reply: another replica may mint again on a retry"));
      else await kv.delete(k).catch(() => undefined);
      return answer;
    }
  }
}

type Stored<T> = { state: "pending"; holder: string; at: number } | { state: "done"; answer: T };
