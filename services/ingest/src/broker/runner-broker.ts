import type { Msg, Subscription } from "@nats-io/transport-node";
import { DecodeError, RunnerConfigRequest, RunnerLaunch, decode, encode, runnerNameFor, subjects, type RunnerConfigReply } from "@oneshot/proto";
import { sealedBox, type EventStore, type Logger, type Nats } from "@oneshot/runtime";
import type { IngestMetrics } from "../metrics.js";
import type { Providers } from "../providers/registry.js";
import { foldHistory } from "../providers/shared/job-history.js";
import { ProviderError } from "../providers/shared/provider-error.js";
import { checkRequest } from "./check-request.js";
import { HostFacts } from "./host-facts.js";
import { ReplyCache } from "./reply-cache.js";
import { SharedReplies } from "./shared-replies.js";
import type { KV } from "@nats-io/kv";

type Result = RunnerConfigReply["data"]["result"];
type Failure = Extract<Result, { ok: false }>;
/** A reply and the provider it was for (the metrics label: `source.provider`, or `unknown` before the job is known). */
interface Answer {
  provider: string;
  result: Result;
}

export interface BrokerDeps {
  nats: Nats;
  store: EventStore;
  log: Logger;
  metrics: IngestMetrics;
  /** The CI providers by name: a job's runner is minted by the provider of its `source.provider`. */
  providers: Providers;
  /** How long an answered request is answered again from memory (default 10 min). */
  replayTtlMs?: number;
  /** The bucket every replica shares answers through (`ingest-runner-replies`); without it, answers are per replica. */
  replies?: KV;
  /** This replica's name in a claim (logs). */
  holder?: string;
  newId: () => string;
  now?: () => Date;
}

export interface Broker {
  /** Resolves once the server has this replica's subscription: requests from then on reach it. */
  ready: Promise<void>;
  /** Stops taking requests and waits for the ones in hand. */
  drain(): Promise<void>;
}

/**
 * Answers hostd's `rpc.runner.config.<hostId>` requests (queue group `ingest-broker`: one
 * replica answers each). Provider-neutral: the request is checked against the log
 * (checkRequest), the job's provider mints a runner and says what the guest runs (a proto
 * `RunnerLaunch`), and that launch, as JSON, is sealed to the host's X25519 key. In plaintext
 * the runner's secret exists only in this process's memory, never in an event, a log line or an
 * error message.
 */
export function startRunnerBroker(d: BrokerDeps): Broker {
  const sub: Subscription = d.nats.nc.subscribe(subjects.allRunnerConfig, { queue: "ingest-broker" });
  const hosts = new HostFacts(d.store);
  const replies = new ReplyCache<Answer>(d.replayTtlMs ?? 10 * 60_000);
  const shared = new SharedReplies<Answer>(d.replies, { holder: d.holder ?? `ingest-${process.pid}`, log: d.log });
  const inFlight = new Set<Promise<void>>();
  const loop = (async () => {
    for await (const m of sub) {
      const p = answer(d, hosts, replies, shared, m).catch((e: unknown) => d.log.error({ err: (e as Error).message }, "runner config reply failed"));
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
  })();
  return {
    // A flush round-trips after the SUB: a request sent once this resolves finds a responder.
    ready: d.nats.nc.flush(),
    drain: async () => {
      await sub.drain().catch(() => undefined);
      await loop;
      await Promise.all(inFlight);
    },
  };
}

async function answer(d: BrokerDeps, hosts: HostFacts, replies: ReplyCache<Answer>, shared: SharedReplies<Answer>, m: Msg): Promise<void> {
  const timer = d.metrics.brokerSeconds.startTimer();
  let jobId = "unknown";
  let correlationId = "unknown";
  let causationId: string | null = null;
  const reply = ({ provider, result }: Answer) => {
    d.metrics.brokerRequests.inc({ provider, outcome: result.ok ? "ok" : result.code });
    timer({ provider });
    m.respond(
      encode(
        { type: "RunnerConfigReply", data: { jobId, result } },
        { id: d.newId(), occurredAt: (d.now?.() ?? new Date()).toISOString(), correlationId, causationId },
      ),
    );
  };
  const unknown = (result: Result): Answer => ({ provider: "unknown", result });

  let request: RunnerConfigRequest["data"];
  try {
    const decoded = decode(m.data, { subject: m.subject });
    const parsed = RunnerConfigRequest.safeParse({ type: decoded.type, data: decoded.data });
    if (!parsed.success) return reply(unknown(failure("invalid", `expected a RunnerConfigRequest, got ${decoded.type}`)));
    request = parsed.data.data;
    ({ correlationId } = decoded);
    causationId = decoded.id;
  } catch (e) {
    return reply(unknown(failure("invalid", e instanceof DecodeError ? "the request does not decode" : "bad request")));
  }
  jobId = request.jobId;
  const log = d.log.child({ jobId, hostId: request.hostId, vmId: request.vmId });
  // The subject is part of the key: an answer is only ever repeated to the host it was checked for.
  const key = [m.subject, request.hostId, request.vmId, request.jobId, request.publicKey].join("/");
  // In memory first (the same replica asked twice at once), then across replicas (a retry the
  // queue group gave to another one): the runner is minted once.
  const keep = (r: Answer) => r.result.ok;
  const busy = (): Answer => unknown(failure("provider-error", "another ingest replica is minting this runner; ask again"));
  const a = await replies.get(key, () => shared.get(key, () => mint(d, hosts, m.subject, request, log), keep, busy), keep);
  if (a.result.ok) log.info({ provider: a.provider, runnerName: a.result.runnerName }, "runner config sealed to the host");
  else log.warn({ provider: a.provider, code: a.result.code, reason: a.result.message }, "runner config refused");
  reply(a);
}

async function mint(d: BrokerDeps, hosts: HostFacts, subject: string, req: RunnerConfigRequest["data"], log: Logger): Promise<Answer> {
  let provider = "unknown";
  try {
    const [vm, job, host] = await Promise.all([
      d.store.readAggregate(subjects.vm(req.hostId, req.vmId)),
      d.store.readAggregate(subjects.job(req.jobId)),
      hosts.of(req.hostId),
    ]);
    const verdict = checkRequest({
      subject,
      request: req,
      vmEvents: vm.events,
      jobEvents: job.events,
      registeredKey: host.key,
      placement: host.placement(req.vmId),
    });
    if (!verdict.ok) return { provider: verdict.provider ?? provider, result: failure(verdict.code, verdict.message) };
    const { source } = verdict;
    provider = source.provider;
    const p = d.providers.get(source.provider);
    if (!p) return { provider, result: failure("not-configured", `ingest has no CI provider ${source.provider}`) };
    if (!p.runners) return { provider, result: failure("invalid", `${source.provider} jobs need no runner config`) };
    const problem = p.runners.sourceProblem(source);
    if (problem) return { provider, result: failure("invalid", `job ${req.jobId} ${problem}`) };

    const minted = await p.runners.mintLaunch({
      jobId: req.jobId,
      source,
      runnerName: runnerNameFor(req.hostId, req.vmId),
      jobEnded: async () => {
        const now = await d.store.readAggregate(subjects.job(req.jobId));
        return foldHistory(now.events, now.lastSeq).ended;
      },
    });
    // proto's schema is the contract with hostd and the agent; its issues name fields, never values.
    const launch = RunnerLaunch.safeParse(minted.launch);
    if (!launch.success) {
      log.error(
        { provider, fields: launch.error.issues.map((i) => i.path.map(String).join(".")).slice(0, 5) },
        "the provider made a launch that is not a RunnerLaunch",
      );
      return { provider, result: failure("provider-error", `ingest made an invalid ${provider} runner launch`) };
    }
    return {
      provider,
      result: { ok: true, provider: p.name, runnerName: minted.runnerName, sealed: sealedBox.seal(JSON.stringify(launch.data), req.publicKey) },
    };
  } catch (e) {
    if (e instanceof ProviderError) return { provider, result: failure(e.code, e.message, e.retryAfterSec) };
    log.error({ provider, err: (e as Error).message }, "runner config request failed");
    return { provider, result: failure("provider-error", "ingest could not answer now; ask again") };
  }
}

function failure(code: Failure["code"], message: string, retryAfterSec?: number): Failure {
  return { ok: false, code, message: message.slice(0, 1024), ...(retryAfterSec !== undefined ? { retryAfterSec } : {}) };
}
