import type { KeyObject } from "node:crypto";
import { RunnerLaunch, decode, encode, streams, subjects, type RunnerConfigReply } from "@oneshot/proto";
import { RetryableError, TerminalError, newEventId, sealedBox, type Nats } from "@oneshot/runtime";
import type { VmRecord } from "../vm/run-dir.js";

/**
 * A script job's script from its JobQueued (the first events of `evt.job.<jobId>`), for
 * run-dir records of placements made before JobScheduled carried it; read by subject with
 * the stream's direct message API: no consumer, one request per message.
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
      if (/permission/i.test((e as Error).message))
        throw new TerminalError(`this hostd's NATS identity may not read ${subjects.job(jobId)} (needs $JS.API.STREAM.MSG.GET.EVENTS)`, e);
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

/** A runner launch opened from the broker's reply (plaintext: the config drive only, never logged). */
export interface OpenedLaunch {
  /** Which CI provider the broker says it is for: logs and metrics only, never a branch. */
  provider: string;
  runnerName: string;
  launch: RunnerLaunch;
}

/**
 * The broker's sealed plaintext did not parse as a RunnerLaunch: terminal (asking again gets
 * the same answer). Names the job and VM; never quotes the plaintext, which may hold a secret.
 */
export class RunnerLaunchInvalidError extends TerminalError {
  constructor(
    readonly jobId: string,
    readonly vmId: string,
    readonly provider: string,
    readonly problem: string,
  ) {
    super(`runner launch for job ${jobId} on VM ${vmId} (provider ${JSON.stringify(provider)}) is malformed: ${problem}`);
  }
}

/**
 * Parses the opened plaintext as a RunnerLaunch (pure). Errors carry only where and what
 * kind of problem (zod paths and codes), never a value: JSON.parse's and zod's own messages
 * can quote the input.
 */
export function parseLaunch(plain: string, ids: { jobId: string; vmId: string; provider: string }): RunnerLaunch {
  let json: unknown;
  try {
    json = JSON.parse(plain);
  } catch {
    throw new RunnerLaunchInvalidError(ids.jobId, ids.vmId, ids.provider, "not JSON");
  }
  const r = RunnerLaunch.safeParse(json);
  if (!r.success) {
    const where = r.error.issues
      .slice(0, 4)
      .map((i) => `${i.path.join(".") || "(root)"}: ${i.code}`)
      .join("; ");
    throw new RunnerLaunchInvalidError(ids.jobId, ids.vmId, ids.provider, `not a RunnerLaunch (${where})`);
  }
  // The config drive holds argv one argument per line (docs/guest-contract.md).
  const bad = r.data.argv.findIndex((a) => /[\n\0]/.test(a));
  if (bad >= 0)
    throw new RunnerLaunchInvalidError(ids.jobId, ids.vmId, ids.provider, `argv[${bad}] holds a newline or NUL (the guest takes one argument per line)`);
  return r.data;
}

/**
 * A runner launch for a job with no inline script, whatever its provider: request it from
 * the broker (ingest, `rpc.runner.config.<hostId>`) with this host's public key, open the
 * sealed reply with the private key, parse it as a RunnerLaunch.
 */
export async function requestRunnerLaunch(
  nats: Nats,
  o: { hostId: string; publicKey: string; privateKey: KeyObject; timeoutMs?: number; attempts?: number },
  rec: VmRecord,
): Promise<OpenedLaunch> {
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
      if (attempt >= attempts) throw new RetryableError(`no runner launch from ingest for job ${rec.jobId} on VM ${rec.vmId}: ${(e as Error).message}`, e);
      await new Promise((r) => setTimeout(r, 1_000 * attempt));
      continue;
    }
    const r = reply.data.result;
    if (r.ok) {
      const ids = { jobId: rec.jobId, vmId: rec.vmId, provider: r.provider };
      let plain: string;
      try {
        plain = sealedBox.open(r.sealed, o.privateKey);
      } catch (e) {
        throw new TerminalError(`runner launch for job ${rec.jobId} on VM ${rec.vmId}: cannot open the sealed box (sealed to another key?)`, e);
      }
      return { provider: r.provider, runnerName: r.runnerName, launch: parseLaunch(plain, ids) };
    }
    const retryable = r.code === "rate-limited" || r.code === "provider-error";
    if (!retryable || attempt >= attempts)
      throw new TerminalError(`ingest refused the runner launch for job ${rec.jobId} on VM ${rec.vmId}: ${r.code}: ${r.message}`);
    await new Promise((res) => setTimeout(res, Math.min(30, r.retryAfterSec ?? attempt) * 1000));
  }
}
