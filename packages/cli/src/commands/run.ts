import { EgressAllowEntry, subjects, type DomainEvent, type Stored } from "@oneshot/proto";
import type { Command } from "commander";
import { CliError, connect, ingestTarget } from "../client/connection.js";
import { followVmOutput } from "../client/vm-output.js";
import { ConsoleFilter, parseDuration, parseMem } from "../view/console-filter.js";

export interface RunOptions {
  arch?: string;
  cpus: string;
  mem: string;
  disk: string;
  timeout: string;
  image: string;
  raw?: boolean;
  quiet?: boolean;
  json?: boolean;
  egressAllow?: string;
  egressAudit?: boolean;
}

/**
 * `--egress-allow a.com,*.b.com,10.0.0.0/8` and `--egress-audit` → the job API's `egress`
 * (docs/egress-policy.md), checked here so a typo is one clear line; undefined when neither is given.
 */
export function egressRequest(o: Pick<RunOptions, "egressAllow" | "egressAudit">): { allow?: string[]; audit?: boolean } | undefined {
  const allow = (o.egressAllow ?? "")
    .split(",")
    .map((x) => x.trim().toLowerCase().replace(/\.$/, ""))
    .filter(Boolean);
  for (const a of allow) {
    const r = EgressAllowEntry.safeParse(a);
    if (!r.success) throw new CliError(`--egress-allow: ${JSON.stringify(a)} ${r.error.issues[0]!.message}`);
  }
  if (o.egressAllow !== undefined && !allow.length) throw new CliError("--egress-allow: give names or CIDRs, comma-separated");
  if (!allow.length && !o.egressAudit) return undefined;
  return { ...(allow.length ? { allow } : {}), ...(o.egressAudit ? { audit: true } : {}) };
}

export function runCommand(program: Command): void {
  program
    .command("run")
    .description("run a command in a fresh microVM and exit with its exit code")
    .argument("<cmd...>", "the command (put it after --)")
    .option("--arch <arch>", "amd64 or arm64 (default: any host's)")
    .option("--cpus <n>", "vCPUs", "1")
    .option("--mem <size>", "memory, e.g. 512m or 2g", "512m")
    .option("--disk <gib>", "root disk GiB", "1")
    .option("--timeout <duration>", "kill the VM after this long, e.g. 90s, 10m", "10m")
    .option("--image <name>", "guest image", "minimal")
    .option("--raw", "show the whole console (kernel and agent lines too)")
    .option("-q, --quiet", "no progress lines on stderr")
    .option("--json", "print one JSON result object at the end instead of progress")
    .option("--egress-allow <list>", "the VM may reach only these: names, *.wildcards, CIDRs, comma-separated (private ranges stay closed)")
    .option("--egress-audit", "let everything through but record what the allow list would have denied (VmEgressDenied)")
    .action(async (cmd: string[], o: RunOptions) => {
      process.exitCode = await run(cmd, o);
    });
}

export async function run(argv: string[], o: RunOptions): Promise<number> {
  let body: Record<string, unknown>;
  const egress = egressRequest(o);
  try {
    body = {
      ...(egress ? { egress } : {}),
      argv,
      vcpus: Number(o.cpus),
      memMiB: parseMem(o.mem),
      diskGiB: Number(o.disk),
      timeoutSec: parseDuration(o.timeout),
      image: o.image,
      ...(o.arch ? { arch: o.arch } : {}),
    };
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const progress = (s: string) => (o.quiet || o.json ? undefined : process.stderr.write(`oneshot: ${s}\n`));
  const target = ingestTarget();
  const { nats, store, close } = await connect({ readOnly: true });
  const fromSeq = (await store.lastStreamSeq()) + 1;
  const submittedAt = performance.now();
  const res = await fetch(`${target.url}/v1/jobs`, {
    method: "POST",
    headers: { authorization: `Bearer ${target.token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  }).catch((e: Error) => {
    throw new CliError(`cannot reach ingest at ${target.url} (${e.message}): is \`oneshot up\` running?`);
  });
  if (res.status !== 202) {
    const text = await res.text();
    await close();
    throw new CliError(`ingest refused the job (${res.status}): ${text.slice(0, 300)}`);
  }
  const { jobId } = (await res.json()) as { jobId: string };
  progress(`queued ${jobId}`);

  const filter = new ConsoleFilter(o.raw);
  const result: Record<string, unknown> = { jobId };
  let stopOutput: (() => Promise<void>) | undefined;
  let sawExitMarker: () => void = () => undefined;
  const exitMarker = new Promise<void>((r) => (sawExitMarker = r));
  const outcome = await new Promise<number>((resolve) => {
    let stopEvents: (() => Promise<void>) | undefined;
    const finish = (code: number) => {
      void stopEvents?.();
      resolve(code);
    };
    const onEvent = async (e: Stored<DomainEvent>) => {
      if ((e.data as { jobId?: string }).jobId !== jobId) return;
      const ms = Math.round(performance.now() - submittedAt);
      switch (e.type) {
        case "JobIgnored":
          progress(`ignored: ${e.data.reason}`);
          return finish(2);
        case "JobUnschedulable":
          progress(`unschedulable: ${e.data.reason}`);
          return finish(2);
        case "JobScheduled":
          Object.assign(result, { hostId: e.data.hostId, vmId: e.data.vmId, start: e.data.start ?? "cold" });
          progress(`placed on host ${e.data.hostId} (vm ${e.data.vmId}, ${e.data.start === "warm" ? "warm: no boot" : "cold boot"}) after ${ms}ms`);
          await stopOutput?.();
          stopOutput = await followVmOutput(nats, e.data.hostId, e.data.vmId, (chunk) => {
            const text = filter.push(chunk.text);
            if (text && !o.json) process.stdout.write(text);
            if (filter.exitCode !== undefined) sawExitMarker();
          });
          return;
        case "VmBootRequested":
          progress("booting");
          return;
        case "VmBooted":
          result.timings = e.data.timings;
          if (e.data.start === "warm") {
            result.handOverMs = e.data.handOverMs;
            progress(`running (${e.data.vmm}/${e.data.accel}, warm VM: job handed over in ${Math.round(e.data.handOverMs ?? 0)}ms)`);
          } else progress(`running (${e.data.vmm}/${e.data.accel}, cold: agent ready ${Math.round(e.data.timings.totalMs)}ms after placement)`);
          return;
        case "VmBootFailed":
          progress(`boot failed: ${e.data.code}: ${e.data.reason}`);
          return;
        case "JobRequeued":
          progress(`requeued: ${e.data.reason}`);
          return;
        case "VmExited":
          result.exitCode = e.data.exitCode;
          progress(`exited ${e.data.exitCode ?? "?"} (${e.data.reason}) after ${Math.round(e.data.runMs)}ms`);
          return;
        case "JobFailed":
          progress(`failed: ${e.data.reason}`);
          return finish(1);
        case "JobCancelled":
          progress(`cancelled: ${e.data.reason}`);
          return finish(130);
        case "JobCompleted":
          result.conclusion = e.data.conclusion;
          result.totalMs = ms;
          progress(`done in ${ms}ms: ${e.data.conclusion}`);
          return finish(e.data.exitCode ?? (e.data.conclusion === "success" ? 0 : 1));
        default:
          return;
      }
    };
    void store.follow(subjects.allEvents, onEvent, { startSeq: fromSeq }).then((stop) => (stopEvents = stop));
  });
  // The console may trail the events by a moment: wait for the exit marker, briefly.
  await Promise.race([exitMarker, new Promise((r) => setTimeout(r, 3_000).unref())]);
  const rest = filter.flush();
  if (rest && !o.json) process.stdout.write(rest);
  await stopOutput?.();
  await close();
  if (filter.agentError) progress(`guest agent: ${filter.agentError}`);
  if (o.json) process.stdout.write(`${JSON.stringify({ ...result, exitCode: outcome })}\n`);
  return outcome;
}
