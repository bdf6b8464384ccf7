import { DeliverPolicy } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { streams } from "@oneshot/proto";
import { SNAPSHOT_BUCKET, SnapshotStore, createLogger, type Nats } from "@oneshot/runtime";

/**
 * The CLI only reads snapshots (its read commands connect as the read-only audit identity, which
 * may not write KV): the scheduler writes its own, the janitor the fleet's. No bucket, or no
 * right to read it: undefined, and the command replays the whole log as before.
 */
export async function snapshotStore(nats: Nats, name: string): Promise<SnapshotStore | undefined> {
  try {
    return new SnapshotStore(await new Kvm(nats.js).open(SNAPSHOT_BUCKET), name);
  } catch {
    return undefined;
  }
}

/** Where a snapshot's refusal is said: a damaged one warns on stderr; none or foreign only at info. */
export const snapshotLog = () => createLogger("cli", { level: process.env.ONESHOT_CLI_LOG_LEVEL ?? "warn", fd: 2 });

/**
 * The last stream sequence stored at or before `at` (JetStream's own timestamp): where a replay
 * "as of `at`" may stop. 0 when nothing was stored by then. The server's start-time lookup is
 * only a starting point: nats-server 2.9 may start a message or two early (CI saw the last one
 * or two events of a log cut off), so messages stored by `at` are skipped until one is later.
 */
export async function lastSeqStoredBy(nats: Nats, at: Date): Promise<number> {
  const atNanos = BigInt(at.getTime()) * 1_000_000n;
  const c = await nats.js.consumers.get(streams.events.name, {
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: new Date(at.getTime() + 1).toISOString(),
  });
  try {
    for (let m = await c.next({ expires: 2_000 }); m; m = await c.next({ expires: 2_000 })) {
      if (m.info.timestampNanos > atNanos) return m.seq - 1;
    }
    return (await nats.jsm.streams.info(streams.events.name)).state.last_seq;
  } finally {
    await c.delete().catch(() => undefined);
  }
}
