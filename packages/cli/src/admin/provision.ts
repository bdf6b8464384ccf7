import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import pLimit from "p-limit";
import { subjects, streams } from "@oneshot/proto";
import { SNAPSHOT_BUCKET, ensureKv, ensureStreams, type EnsureOptions, type Nats } from "@oneshot/runtime";
import type { Logger } from "@oneshot/runtime";

/**
 * The durable a hostd reads its work from; created by an operator so hostd needs no create right.
 * It starts at the tail: a host consumer recreated after a deletion must not re-run placements
 * of long ago (a placement it misses meanwhile is never booted, and the janitor reports its VM
 * as vanished, so the scheduler places the job again).
 */
export async function provisionHost(nats: Nats, hostId: string, ackWaitMs = 30_000): Promise<"created" | "exists" | "replaced"> {
  const durable = `hostd-${hostId}`;
  const have = await nats.jsm.consumers.info(streams.events.name, durable).catch(() => undefined);
  // A consumer of that name with another filter was not made here (a read identity may create
  // named consumers): the host would read another host's work. Replace it.
  if (have && have.config.filter_subject === subjects.host(hostId) && have.config.ack_policy === AckPolicy.Explicit) return "exists";
  if (have) await nats.jsm.consumers.delete(streams.events.name, durable);
  await nats.jsm.consumers.add(streams.events.name, {
    durable_name: durable,
    filter_subject: subjects.host(hostId),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    ack_wait: ackWaitMs * 1_000_000,
    max_deliver: -1,
  });
  return have ? "replaced" : "created";
}

/** How many host consumers `provisionAll` creates at once. */
export const PROVISION_CONCURRENCY = 16;

/** Streams, then one durable per host: what `oneshot admin init` does with the admin identity. */
export async function provisionAll(nats: Nats, hosts: string[], log: Logger, opts: EnsureOptions & { concurrency?: number } = {}): Promise<string[]> {
  // Replicas: 1 on one server; 3 on a 3-node cluster (`oneshot admin init --replicas 3`).
  const r = opts.replicas === undefined ? {} : { replicas: opts.replicas };
  // A cluster that just started may not know all its peers yet ("no suitable peers"): wait a little.
  for (let tries = 0; ; tries++) {
    try {
      await ensureStreams(nats.jsm, log, undefined, r);
      break;
    } catch (e) {
      if (!/no suitable peers|insufficient resources|jetstream not (enabled|available)|timeout/i.test((e as Error).message) || tries >= 30) throw e;
      log.warn({ err: e, replicas: opts.replicas }, "the cluster cannot place the streams yet; retrying");
      await new Promise((res) => setTimeout(res, 1_000));
    }
  }
  // Buckets the services use but may not create under their own identities.
  await ensureKv(nats, "janitor", { ttlMs: 15_000, ...r }); // the janitor's leader lease (JANITOR_LEASE_TTL default)
  await ensureKv(nats, "scheduler", { ttlMs: 6_000, ...r }); // the scheduler's leader lease (SCHEDULER_LEASE_TTL default)
  await ensureKv(nats, "ingest-gitlab-runners", { ttlMs: 7 * 24 * 3600_000, ...r });
  await ensureKv(nats, "ingest-reconcile", { ttlMs: 30_000, ...r }); // the reconciler's leader lease (RECONCILE_LEASE_TTL default)
  await ensureKv(nats, "ingest-runner-replies", { ttlMs: 10 * 60_000, ...r }); // broker answers shared by ingest replicas
  await ensureKv(nats, "ingest-foreign", { ttlMs: 4 * 24 * 3600_000, ...r }); // deliveries for jobs not ours (ingest's FOREIGN_TTL_MS)
  await ensureKv(nats, SNAPSHOT_BUCKET, r); // projections' snapshots (the scheduler's: SCHEDULER_SNAPSHOT_EVERY)
  // Host consumers a few at a time: on a cluster each is a raft group the meta leader places
  // (~0.5 s each, one after another: 1,000 hosts took 477 s), and the server copes with many at once.
  const limit = pLimit(opts.concurrency ?? PROVISION_CONCURRENCY);
  return Promise.all(hosts.map((h) => limit(async () => `${h}: ${await provisionHost(nats, h)}`)));
}
