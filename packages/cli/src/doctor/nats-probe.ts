import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import { connectNats, createLogger, type Nats } from "@oneshot/runtime";
import { streams, subjects } from "@oneshot/proto";
import { natsIdentity, natsUrl } from "../client/connection.js";
import { natsCheck, skewCheck, type NatsFacts, type SkewFacts } from "./nats-checks.js";
import type { Finding } from "./verdict.js";

/**
 * NATS as the services reach it (NATS_URL, NATS_USER, NATS_NKEY_FILE, NATS_CA_FILE, else the
 * running `oneshot up`'s read-only identity), then the clock against the server's.
 */
export async function natsFindings(o: { timeoutMs: number }): Promise<Finding[]> {
  const url = natsUrl();
  const id = natsIdentity(true);
  const facts: Omit<NatsFacts, "reach"> = { url, user: id.user, caFile: id.caFile, auth: id.nkeySeedFile ? "nkey" : id.password ? "password" : "none" };
  const log = createLogger("doctor", { level: "silent" });
  let nats: Nats;
  try {
    nats = await connectNats({ url, name: "oneshot-doctor", ...id, firstConnectTimeoutMs: o.timeoutMs }, log);
  } catch (e) {
    const err = e as Error & { cause?: unknown };
    const why = err.cause instanceof Error ? err.cause.message : err.message;
    return [
      natsCheck({ ...facts, reach: { ok: false, error: why } }),
      skewCheck({ measured: false, why: "NATS unreachable", fix: "reach NATS first (the nats check above)" }),
    ];
  }
  try {
    await nats.nc.flush();
    const info = nats.nc.info;
    const found = natsCheck({
      ...facts,
      reach: { ok: true, server: `${info?.server_name ?? "nats"} ${info?.version ?? ""} at ${nats.nc.getServer()}`.trim(), tlsRequired: !!info?.tls_required },
    });
    return [found, skewCheck(await measureSkew(nats, id.user))];
  } finally {
    await nats.nc.close();
  }
}

/**
 * The server stamps a consumer's `created` with its own clock as it makes it: a consumer made
 * between two local readings gives the skew within half the round trip. The consumer reads
 * nothing (a subject no event has, no acks, in memory) and is deleted at once. An identity
 * that may not make consumers (a hostd) gets the time from its own durable's info, which
 * servers from 2.10 stamp (`ts`).
 */
async function measureSkew(nats: Nats, user: string | undefined): Promise<SkewFacts> {
  const t0 = Date.now();
  try {
    const ci = await nats.jsm.consumers.add(streams.events.name, {
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.New,
      filter_subject: subjects.job("oneshot-doctor-clock"),
      mem_storage: true,
      inactive_threshold: 30_000_000_000,
    });
    const t1 = Date.now();
    await nats.jsm.consumers.delete(streams.events.name, ci.name).catch(() => undefined);
    return { measured: true, skewMs: (t0 + t1) / 2 - Date.parse(ci.created), uncertaintyMs: (t1 - t0) / 2, how: "a consumer's creation time on EVENTS" };
  } catch (e) {
    const why = `cannot make a consumer on EVENTS (${(e as Error).message})`;
    if (!user) return { measured: false, why };
    const t2 = Date.now();
    const own = (await nats.jsm.consumers.info(streams.events.name, user).catch(() => undefined)) as { ts?: string } | undefined;
    const t3 = Date.now();
    if (own?.ts)
      return { measured: true, skewMs: (t2 + t3) / 2 - Date.parse(own.ts), uncertaintyMs: (t3 - t2) / 2, how: `the server's time in ${user}'s consumer info` };
    return {
      measured: false,
      why: `${why}, and ${own ? "this server does not stamp consumer info with its time (nats-server 2.10+ does)" : `no consumer ${user} to read the server's time from`}`,
    };
  }
}
