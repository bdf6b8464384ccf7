import type { KeyObject } from "node:crypto";
import { decode, encode, streams, subjects, type RunnerConfigReply } from "@oneshot/proto";
import { RetryableError, TerminalError, newEventId, sealedBox, type Nats } from "@oneshot/runtime";
import type { RunnerSecret } from "../vm/config-drive.js";
import type { VmRecord } from "../vm/run-dir.js";

/** Which provider a job id belongs to (docs/event-flow.md "Ids"). */
export function jobKind(jobId: string): "github" | "gitlab" | "local" {
  if (jobId.startsWith("gh-")) return "github";
  if (jobId.startsWith("gl-")) return "gitlab";
  return "local";
}

/**
 * A local job's script, from its JobQueued (the first events of `evt.job.<jobId>`), read by
 * subject with the stream's direct message API: no consumer, one request per message.
 */
export async function readJobScript(nats: Nats, jobId: string, maxScan = 16): Promise<string> {
  let seq = 1;
  for (let i = 0; i < maxScan; i++) {
    let m;
    try {
      // `next_by_subj` is in the server's STREAM.MSG.GET API (2.9+); nats.js types it for direct get only.
      m = await nats.jsm.streams.getMessage(streams.events.name, { next_by_subj: subjects.job(jobId), seq } as unknown as { seq: number });
    } catch (e) {
      if (/no message found|not found/i.test((e as Error).message)) break;
      if (/permission/i.test((e as Error).message)) throw new TerminalError(`this hostd's NATS identity may not read ${subjects.job(jobId)} (needs $JS.API.STREAM.MSG.GET.EVENTS)`, e);
      throw new RetryableError(`cannot read ${subjects.job(jobId)}: ${(e as Error).message}`, e);
    }
    if (!m) break;
    const ev = decode(m.data, { subject: m.subject, seq: m.seq });
    if (ev.type === "JobQueued") {
      const script = (ev.data as { script?: string }).script;
      if (script === undefined) throw new TerminalError(`JobQueued of ${jobId} has no script`);
      return script;
    }
    seq = m.seq + 1;
  }
  throw new TerminalError(`no JobQueued for ${jobId} on ${subjects.job(jobId)}`);
}

/**
 * A GitHub/GitLab job's runner config: request it from ingest (`rpc.runner.config.<hostId>`)
 * with this host's public key, open the sealed reply with the private key. The plaintext is
 * returned to be written to the config drive only, never logged.
 */
export async function requestRunnerSecret(
  nats: Nats, o: { hostId: string; publicKey: string; privateKey: KeyObject; timeoutMs?: number; attempts?: number }, rec: VmRecord,
): Promise<RunnerSecret> {
  const attempts = o.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    const req = encode(
      { type: "RunnerConfigRequest", data: { hostId: o.hostId, jobId: rec.jobId, vmId: rec.vmId, publicKey: o.publicKey } },
      { id: newEventId(), occurredAt: new Date().toISOString(), correlationId: rec.correlationId, causationId: rec.events.VmBootRequested ?? null },
    );
    let reply: RunnerConfigReply;
    try {
      const m = await nats.nc.request(subjects.runnerConfig(o.hostId), req, { timeout: o.timeoutMs ?? 15_000 });
      const d = decode(m.data);
      if (d.type !== "RunnerConfigReply") throw new Error(`unexpected reply ${d.type}`);
      reply = d as unknown as RunnerConfigReply;
    } catch (e) {
      if (attempt >= attempts) throw new RetryableError(`no runner config from ingest: ${(e as Error).message}`, e);
      await new Promise((r) => setTimeout(r, 1_000 * attempt));
      continue;
    }
    const r = reply.data.result;
    if (r.ok) {
      const plain = sealedBox.open(r.sealed, o.privateKey);
      if (r.kind === "github") return { kind: "github", jitConfig: plain };
      const g = JSON.parse(plain) as { url?: string; token?: string };
      if (!g.url || !g.token) throw new TerminalError("GitLab runner config lacks url or token");
      return { kind: "gitlab", url: g.url, token: g.token };
    }
    const retryable = r.code === "rate-limited" || r.code === "provider-error";
    if (!retryable || attempt >= attempts) throw new TerminalError(`ingest refused the runner config: ${r.code}: ${r.message}`);
    await new Promise((res) => setTimeout(res, Math.min(30, r.retryAfterSec ?? attempt) * 1000));
  }
}
