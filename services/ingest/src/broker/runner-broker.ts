import type { Msg, Subscription } from "@nats-io/transport-node";
import { decode, encode, subjects, type RunnerConfigReply } from "@oneshot/proto";
import { newEventId, sealedBox, type EventStore, type Logger, type Nats } from "@oneshot/runtime";
import type { IngestMetrics } from "../metrics.js";
import { ProviderError, type JitRequest } from "./github-app.js";

type ReplyResult = RunnerConfigReply["data"]["result"];

export interface BrokerDeps {
  nats: Nats;
  store: EventStore;
  log: Logger;
  metrics: IngestMetrics;
  runnerGroupId: number;
  mintGithub?: (r: JitRequest) => Promise<{ runnerName: string; encodedJitConfig: string }>;
  gitlab?: {
    url: string;
    createRunner: (projectId: number, tags: string[], description: string) => Promise<{ id: number; token: string }>;
    /** Remembers the runner so it is deleted when the job ends. */
    remember: (jobId: string, runnerId: number) => Promise<void>;
  };
}

/**
 * Answers hostd's `rpc.runner.config.<hostId>` requests. The host id in the subject is
 * authenticated by NATS permissions; the request must match a VmBootRequested that host wrote
 * for that job, and the host's registered key. The secret is sealed to that key and exists in
 * plaintext only in this function's memory.
 */
export function startRunnerBroker(d: BrokerDeps): Subscription {
  const sub = d.nats.nc.subscribe(subjects.allRunnerConfig, { queue: "ingest-broker" });
  void (async () => {
    for await (const m of sub) void answer(d, m);
  })();
  return sub;
}

async function answer(d: BrokerDeps, m: Msg): Promise<void> {
  let jobId = "unknown";
  let provider = "unknown";
  const reply = (result: ReplyResult) => {
    d.metrics.brokerRequests.inc({ provider, outcome: result.ok ? "ok" : result.code });
    m.respond(encode({ type: "RunnerConfigReply", data: { jobId, result } }, { id: newEventId(), occurredAt: new Date().toISOString(), correlationId: jobId, causationId: null }));
  };
  const fail = (code: Extract<ReplyResult, { ok: false }>["code"], message: string, retryAfterSec?: number) =>
    reply({ ok: false, code, message, ...(retryAfterSec !== undefined ? { retryAfterSec } : {}) });
  try {
    const req = decode(m.data, { subject: m.subject });
    if (req.type !== "RunnerConfigRequest") return fail("invalid", `expected RunnerConfigRequest, got ${req.type}`);
    const { hostId, vmId, publicKey } = req.data as { hostId: string; vmId: string; jobId: string; publicKey: string };
    jobId = (req.data as { jobId: string }).jobId;
    if (m.subject !== subjects.runnerConfig(hostId)) return fail("wrong-host", "the request's host id does not match its subject");
    const vm = await d.store.readAggregate(subjects.vm(hostId, vmId));
    if (!vm.events.some((e) => e.type === "VmBootRequested" && e.data.jobId === jobId)) return fail("wrong-host", `host ${hostId} has no VM ${vmId} booting for job ${jobId}`);
    const host = await d.store.readAggregate(subjects.host(hostId));
    const registered = [...host.events].reverse().find((e) => e.type === "HostRegistered");
    if (!registered || registered.type !== "HostRegistered" || registered.data.publicKey !== publicKey) return fail("wrong-host", "public key does not match the host's registration");
    const job = await d.store.readAggregate(subjects.job(jobId));
    const queued = job.events.find((e) => e.type === "JobQueued");
    if (!queued || queued.type !== "JobQueued") return fail("not-found", `job ${jobId} was never queued`);
    if (job.events.some((e) => e.type === "JobCompleted" || e.type === "JobCancelled" || e.type === "JobFailed")) return fail("not-runnable", `job ${jobId} has already ended`);
    const src = queued.data.source;
    provider = src.provider;
    const runnerName = `oneshot-${hostId}-${vmId}`.slice(0, 64);
    if (src.provider === "github") {
      if (!d.mintGithub) return fail("not-configured", "ingest has no GitHub App (GITHUB_APP_ID / GITHUB_APP_PRIVATE_KEY)");
      if (!src.installationId) return fail("invalid", "the job's delivery carried no installation id");
      const scope = src.ownerType === "User" ? { repo: src.repo } : { org: src.org };
      const jit = await d.mintGithub({ installationId: src.installationId, scope, name: runnerName, labels: src.labels, runnerGroupId: d.runnerGroupId });
      reply({ ok: true, kind: "github", runnerName: jit.runnerName, sealed: sealedBox.seal(jit.encodedJitConfig, publicKey) });
    } else if (src.provider === "gitlab") {
      if (!d.gitlab) return fail("not-configured", "ingest has no GitLab API token (GITLAB_API_TOKEN)");
      if (!src.projectId) return fail("invalid", "the job has no GitLab project id");
      const runner = await d.gitlab.createRunner(src.projectId, src.labels, runnerName);
      await d.gitlab.remember(jobId, runner.id);
      reply({ ok: true, kind: "gitlab", runnerName, sealed: sealedBox.seal(JSON.stringify({ url: d.gitlab.url, token: runner.token, runnerId: runner.id }), publicKey) });
    } else {
      return fail("invalid", "local jobs need no runner config");
    }
    d.log.info({ jobId, hostId, vmId, provider }, "runner config minted and sealed");
  } catch (e) {
    if (e instanceof ProviderError) return fail(e.code, e.message, e.retryAfterSec);
    d.log.error({ err: e, jobId }, "runner config request failed");
    return fail("provider-error", "internal error while minting the runner config");
  }
}
