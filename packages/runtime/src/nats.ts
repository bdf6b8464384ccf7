import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, RetentionPolicy, StorageType, DiscardPolicy } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { connect, nkeyAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { readFileSync } from "node:fs";
import { streams, type StreamDef } from "@oneshot/proto";
import type { Logger } from "pino";
import { RetryableError } from "./errors.js";

export interface Nats {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

export interface ConnectOptions {
  url: string;
  name: string;
  user?: string | undefined;
  password?: string | undefined;
  /** A file with this identity's NKey seed (`SU…`): challenge-response login, no secret on the wire. */
  nkeySeedFile?: string | undefined;
  /** The CA (PEM) that signed the server's certificate: TLS, and the server's name is verified. */
  caFile?: string | undefined;
  /** How long to keep trying the first connection before giving up (ms). */
  firstConnectTimeoutMs?: number;
}

/**
 * The reply-subject prefix of an identity: `_INBOX_<user>`. NATS permissions give each user
 * only its own prefix, so no identity can subscribe to another's replies (placements, scripts,
 * runner configs travel in replies). Without a user (a dev stack with no auth): the default.
 */
export const inboxPrefixFor = (user: string | undefined): string | undefined => (user ? `_INBOX_${user}` : undefined);

/** Connects with endless reconnects; logs status changes; a clear error when unreachable. */
/**
 * nats-server before 2.9.21 does not serialise expected-last-subject-sequence checks in a
 * clustered stream (nats-io/nats-server#4319): two concurrent appends expecting the same
 * sequence may both be stored. oneshot keeps one writer per decision (leases), but a cluster
 * should run a fixed server. Returns the warning, or undefined.
 */
export function clusterConcurrencyWarning(version: string | undefined, cluster: string | undefined): string | undefined {
  if (!version || !cluster) return undefined;
  const [maj = 0, min = 0, patch = 0] = version.split(/[.-]/).map((n) => Number.parseInt(n, 10) || 0);
  const old = maj < 2 || (maj === 2 && (min < 9 || (min === 9 && patch < 21)));
  return old
    ? `nats-server ${version} in a cluster does not serialise expected-sequence appends (fixed in 2.9.21, nats-io/nats-server#4319): upgrade the cluster`
    : undefined;
}

export async function connectNats(opts: ConnectOptions, log: Logger): Promise<Nats> {
  const servers = opts.url.split(",").map((s) => s.trim());
  const deadline = Date.now() + (opts.firstConnectTimeoutMs ?? 15_000);
  const auth = credentialsOf(opts);
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const nc = await connect({
        servers,
        name: opts.name,
        ...auth,
        ...(inboxPrefixFor(opts.user) ? { inboxPrefix: inboxPrefixFor(opts.user)! } : {}),
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        timeout: 3_000,
        // Without it every request (each JetStream publish) builds an Error up front for the
        // stack a timeout would carry: 4% of ingest's CPU at load. Errors keep their messages.
        noAsyncTraces: process.env.ONESHOT_NATS_ASYNC_TRACES !== "1",
      });
      watchStatus(nc, log);
      log.info({ server: nc.getServer(), version: nc.info?.version }, "connected to NATS");
      const weak = clusterConcurrencyWarning(nc.info?.version, nc.info?.cluster);
      if (weak) log.warn({ version: nc.info?.version, cluster: nc.info?.cluster }, weak);
      return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc) };
    } catch (e) {
      lastErr = e;
      if (isAuthError(e)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const why = lastErr instanceof Error ? lastErr.message : String(lastErr);
  throw new RetryableError(`cannot reach NATS at ${opts.url} (${why}): is nats-server running with JetStream (-js)? Set NATS_URL to its address.`, lastErr);
}

/**
 * Login and TLS options: an NKey seed file wins over a password (the NATS user name then only
 * names the inbox); a CA file turns TLS on and verifies the server's certificate and name.
 */
function credentialsOf(opts: ConnectOptions) {
  const tls = opts.caFile ? { tls: { caFile: readable(opts.caFile, "NATS_CA_FILE") } } : {};
  if (opts.nkeySeedFile) {
    const seed = readFileSync(readable(opts.nkeySeedFile, "NATS_NKEY_FILE"), "utf8").trim();
    if (!/^SU[A-Z2-7]{56}$/.test(seed))
      throw new Error(`NATS_NKEY_FILE ${opts.nkeySeedFile} does not hold a user NKey seed (SU…): make one with \`oneshot admin bootstrap\``);
    return { ...tls, authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) };
  }
  return { ...tls, user: opts.user, pass: opts.password };
}

function readable(path: string, what: string): string {
  try {
    readFileSync(path);
  } catch (e) {
    throw new Error(`${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  return path;
}

const isAuthError = (e: unknown) => /authorization|authentication/i.test(String((e as Error)?.message));

function watchStatus(nc: NatsConnection, log: Logger): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") log.warn({ server: s.server }, "NATS disconnected; reconnecting");
      else if (s.type === "reconnect") log.info({ server: s.server }, "NATS reconnected");
      else if (s.type === "error") log.error({ err: s.error }, "NATS error");
    }
  })();
}

function streamConfig(def: StreamDef, replicas = 1) {
  const sec = 1_000_000_000;
  return {
    name: def.name,
    subjects: [...def.subjects],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: def.maxAgeSec * sec,
    max_msgs_per_subject: def.maxMsgsPerSubject,
    max_bytes: def.maxBytes,
    duplicate_window: def.duplicateWindowSec * sec,
    num_replicas: replicas,
  };
}

export interface EnsureOptions {
  /**
   * Replicas for streams and buckets (3 on a 3-node cluster: an acknowledged event is on two
   * nodes' disks before the ack). Only an operator sets it (`oneshot admin init --replicas`):
   * services ensure streams with it unset, which keeps whatever replicas a stream has.
   */
  replicas?: number;
}

/** Creates or updates every stream oneshot uses. Safe to call from every service at start. */
export async function ensureStreams(jsm: JetStreamManager, log: Logger, defs: StreamDef[] = Object.values(streams), opts: EnsureOptions = {}): Promise<void> {
  for (const def of defs) {
    const cfg = streamConfig(def, opts.replicas);
    try {
      const info = await jsm.streams.info(def.name);
      if (opts.replicas === undefined) cfg.num_replicas = info.config.num_replicas;
      if (sameStreamConfig(info.config, cfg)) continue;
      await jsm.streams.update(def.name, cfg).catch((e: Error) => {
        // Least-privilege identities may not update streams: the stream exists, use it as it is.
        if (!/permission/i.test(e.message)) throw e;
        log.warn({ stream: def.name }, "stream settings differ from this version's and this identity may not update them");
      });
    } catch (e) {
      if ((e as Error).name !== "StreamNotFoundError" && !/not found/i.test((e as Error).message)) throw e;
      try {
        await jsm.streams.add(cfg);
      } catch (e2) {
        // Another service created it between our info and add.
        if (!/already in use|exists/i.test((e2 as Error).message)) throw e2;
      }
      log.info({ stream: def.name }, "stream created");
    }
  }
}

function sameStreamConfig(
  have: { subjects?: string[]; max_age: number; max_msgs_per_subject: number; max_bytes: number; duplicate_window: number; num_replicas: number },
  want: ReturnType<typeof streamConfig>,
): boolean {
  return (
    have.num_replicas === want.num_replicas &&
    JSON.stringify(have.subjects ?? []) === JSON.stringify(want.subjects) &&
    have.max_age === want.max_age &&
    have.max_msgs_per_subject === want.max_msgs_per_subject &&
    have.max_bytes === want.max_bytes &&
    have.duplicate_window === want.duplicate_window
  );
}

/**
 * Opens a KV bucket, creating it only when it does not exist: least-privilege identities
 * may read and write a bucket an operator created (`oneshot admin init`) but not create one.
 */
export async function ensureKv(nats: Nats, bucket: string, opts: { ttlMs?: number; history?: number } & EnsureOptions = {}): Promise<KV> {
  const kvm = new Kvm(nats.js);
  const info = await nats.jsm.streams.info(`KV_${bucket}`).catch(() => undefined);
  if (info && opts.replicas !== undefined && info.config.num_replicas !== opts.replicas) {
    await nats.jsm.streams.update(`KV_${bucket}`, { ...info.config, num_replicas: opts.replicas });
  }
  if (info) return kvm.open(bucket);
  // A bucket a service creates itself (before `oneshot admin init` made it) is as durable as the
  // log: on a cluster an R1 bucket (a leader lease, say) would stop its service with one node.
  const replicas =
    opts.replicas ??
    (await nats.jsm.streams.info(streams.events.name).then(
      (i) => i.config.num_replicas,
      () => 1,
    ));
  return kvm.create(bucket, { ttl: opts.ttlMs ?? 0, history: opts.history ?? 1, replicas });
}
