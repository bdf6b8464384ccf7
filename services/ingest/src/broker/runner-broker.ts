import type { Msg, Subscription } from "@nats-io/transport-node";
import { DecodeError, RunnerConfigRequest, decode, encode, subjects, type JobSource, type RunnerConfigReply } from "@oneshot/proto";
import { sealedBox, type EventStore, type Logger, type Nats } from "@oneshot/runtime";
import { runnerNameFor } from "../providers/shared/runner-name.js";
import type { IngestMetrics } from "../metrics.js";
import { checkRequest } from "./check-request.js";
import type { MintGithub } from "../providers/github/jit-minter.js";
import { HostKeys } from "./host-keys.js";
import { ProviderError } from "../providers/shared/provider-error.js";
import { ReplyCache } from "./reply-cache.js";

type Result = RunnerConfigReply["data"]["result"];
type Failure = Extract<Result, { ok: false }>;

export interface BrokerDeps {
  nats: Nats;
  store: EventStore;
  log: Logger;
  metrics: IngestMetrics;
  runnerGroupId: number;
  /** Undefined without a GitHub App: GitHub jobs get `not-configured`. */
  mintGithub?: MintGithub;
  /** Undefined without a GitLab API token: GitLab jobs get `not-configured`. */
  gitlab?: {
    url: string;
    createRunner: (projectId: number, tags: string[], description: string) => Promise<{ id: number; token: string }>;
    deleteRunner: (runnerId: number) => Promise<void>;
    /** Remembers the runner, so it is deleted when the job ends. */
    remember: (jobId: string, runnerId: number) => Promise<void>;
  };
  /** How long an answered request is answered again from memory (default 10 min). */
  replayTtlMs?: number;
  newId: () => string;
  now?: () => Date;
}

export interface Broker {
  /** Stops taking requests and waits for the ones in hand. */
  drain(): Promise<void>;
}

/**
 * Answers hostd's `rpc.runner.config.<hostId>` requests (queue group `ingest-broker`: one
 * replica answers each). The request is checked against the log (checkRequest), the runner is
 * minted (GitHub JIT config, or a GitLab runner), and the secret is sealed to the host's X25519
 * key: in plaintext it exists only in this process's memory, never in an event, a log line or
 * an error message.
 */
export function startRunnerBroker(d: BrokerDeps): Broker {
  const sub: Subscription = d.nats.nc.subscribe(subjects.allRunnerConfig, { queue: "ingest-broker" });
  const hostKeys = new HostKeys(d.store);
  const replies = new ReplyCache<Result>(d.replayTtlMs ?? 10 * 60_000);
  const inFlight = new Set<Promise<void>>();
  const loop = (async () => {
    for await (const m of sub) {
      const p = answer(d, hostKeys, replies, m).catch((e: unknown) => d.log.error({ err: (e as Error).message }, "runner config reply failed"));
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
  })();
  return {
    drain: async () => {
      await sub.drain().catch(() => undefined);
      await loop;
      await Promise.all(inFlight);
    },
  };
}

async function answer(d: BrokerDeps, hostKeys: HostKeys, replies: ReplyCache<Result>, m: Msg): Promise<void> {
  const timer = d.metrics.brokerSeconds.startTimer();
  let jobId = "unknown";
  let correlationId = "unknown";
  let causationId: string | null = null;
  const reply = (result: Result) => {
    const provider = providerOf(jobId);
    d.metrics.brokerRequests.inc({ provider, outcome: result.ok ? "ok" : result.code });
    timer({ provider });
    m.respond(encode({ type: "RunnerConfigReply", data: { jobId, result } }, { id: d.newId(), occurredAt: (d.now?.() ?? new Date()).toISOString(), correlationId, causationId }));
  };

  let request: RunnerConfigRequest["data"];
  try {
    const decoded = decode(m.data, { subject: m.subject });
    const parsed = RunnerConfigRequest.safeParse({ type: decoded.type, data: decoded.data });
    if (!parsed.success) return reply(failure("invalid", `expected a RunnerConfigRequest, got ${decoded.type}`));
    request = parsed.data.data;
    ({ correlationId } = decoded);
    causationId = decoded.id;
  } catch (e) {
    return reply(failure("invalid", e instanceof DecodeError ? "the request does not decode" : "bad request"));
  }
  jobId = request.jobId;
  const log = d.log.child({ jobId, hostId: request.hostId, vmId: request.vmId });
  // The subject is part of the key: an answer is only ever repeated to the host it was checked for.
  const key = [m.subject, request.hostId, request.vmId, request.jobId, request.publicKey].join("/");
  const result = await replies.get(key, () => mint(d, hostKeys, m.subject, request, log), (r) => r.ok);
  if (result.ok) log.info({ runnerName: result.runnerName }, "runner config sealed to the host");
  else log.warn({ code: result.code, reason: result.message }, "runner config refused");
  reply(result);
}

async function mint(d: BrokerDeps, hostKeys: HostKeys, subject: string, req: RunnerConfigRequest["data"], log: Logger): Promise<Result> {
  try {
    const [vm, job, registeredKey] = await Promise.all([
      d.store.readAggregate(subjects.vm(req.hostId, req.vmId)),
      d.store.readAggregate(subjects.job(req.jobId)),
      hostKeys.keyOf(req.hostId),
    ]);
    const verdict = checkRequest({ subject, request: req, vmEvents: vm.events, jobEvents: job.events, registeredKey });
    if (!verdict.ok) return failure(verdict.code, verdict.message);
    const runnerName = runnerNameFor(req.hostId, req.vmId);
    if (verdict.source.provider === "github") return await mintGithub(d, verdict.source, runnerName, req.publicKey);
    return await mintGitlab(d, verdict.source, runnerName, req);
  } catch (e) {
    if (e instanceof ProviderError) return failure(e.code, e.message, e.retryAfterSec);
    log.error({ err: (e as Error).message }, "runner config request failed");
    return failure("provider-error", "ingest could not answer now; ask again");
  }
}

async function mintGithub(d: BrokerDeps, source: JobSource, runnerName: string, publicKey: string): Promise<Result> {
  if (!d.mintGithub) return failure("not-configured", "ingest has no GitHub App (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY_FILE)");
  // Organisations get an org-level runner; a user's repository can only have repo-level ones.
  const scope = source.ownerType === "User" ? { repo: source.repo } : { org: source.org };
  const jit = await d.mintGithub({ installationId: source.installationId!, scope, name: runnerName, labels: source.labels, runnerGroupId: d.runnerGroupId });
  return { ok: true, kind: "github", runnerName: jit.runnerName, sealed: sealedBox.seal(jit.encodedJitConfig, publicKey) };
}

async function mintGitlab(d: BrokerDeps, source: JobSource, runnerName: string, req: RunnerConfigRequest["data"]): Promise<Result> {
  if (!d.gitlab) return failure("not-configured", "ingest has no GitLab API token (GITLAB_API_TOKEN)");
  const runner = await d.gitlab.createRunner(source.projectId!, source.labels, runnerName);
  try {
    await d.gitlab.remember(req.jobId, runner.id);
  } catch (e) {
    // Unremembered, it would never be deleted: take it back now.
    await d.gitlab.deleteRunner(runner.id).catch(() => undefined);
    throw e;
  }
  // The job may have ended while the runner was made, after the cleanup looked: look again.
  const job = await d.store.readAggregate(subjects.job(req.jobId));
  if (job.events.some((e) => e.type === "JobCompleted" || e.type === "JobCancelled" || e.type === "JobFailed")) {
    await d.gitlab.deleteRunner(runner.id).catch(() => undefined);
    return failure("not-runnable", `job ${req.jobId} ended while its runner was being created`);
  }
  const secret = JSON.stringify({ url: d.gitlab.url, token: runner.token, runnerId: runner.id });
  return { ok: true, kind: "gitlab", runnerName, sealed: sealedBox.seal(secret, req.publicKey) };
}

const providerOf = (jobId: string) => (jobId.startsWith("gh-") ? "github" : jobId.startsWith("gl-") ? "gitlab" : "other");

function failure(code: Failure["code"], message: string, retryAfterSec?: number): Failure {
  return { ok: false, code, message: message.slice(0, 1024), ...(retryAfterSec !== undefined ? { retryAfterSec } : {}) };
}
