import { EgressAllowEntry, type Arch, type DomainEvent, type EgressPolicy, type JobSource } from "@oneshot/proto";
import { requestedEgress } from "../../egress/policy-file.js";
import { z } from "zod";

/** What JobQueued can carry (proto: `script` max 256 KiB). */
export const MAX_SCRIPT_BYTES = 256 * 1024;

/** `POST /v1/jobs`: an ad-hoc job from the CLI (`oneshot run`). */
export const LocalJobRequest = z
  .object({
    /** A shell script the guest runs with `sh`. */
    script: z.string().min(1).max(MAX_SCRIPT_BYTES).optional(),
    /** Or a command: run exactly as given (each element one argument). */
    argv: z
      .array(z.string().max(64 * 1024))
      .min(1)
      .max(4096)
      .optional(),
    arch: z.enum(["amd64", "arm64"]).optional(),
    vcpus: z.number().int().min(1),
    memMiB: z.number().int().min(64),
    diskGiB: z.number().int().min(1).max(4096).optional(),
    image: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,63}$/, "must be 1-64 chars of [a-z0-9-]")
      .optional(),
    timeoutSec: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 3600),
    /** `oneshot run --egress-allow … --egress-audit`: the job's own egress policy (docs/egress-policy.md). */
    egress: z
      .object({ allow: z.array(EgressAllowEntry).max(256).optional(), audit: z.boolean().optional() })
      .strict()
      .optional(),
  })
  .strict()
  .refine((r) => (r.script === undefined) !== (r.argv === undefined), { message: "give exactly one of script or argv" });
export type LocalJobRequest = z.infer<typeof LocalJobRequest>;

export interface LocalLimits {
  arch: Arch;
  maxVcpus: number;
  maxMemGiB: number;
  /** The policy file's resolver: a local job that asks for no policy of its own gets what it says. */
  egress?: (s: JobSource) => EgressPolicy;
}

/** POSIX shell quoting: the argv runs exactly as given, whatever bytes it contains. */
export const shellQuote = (argv: readonly string[]) => argv.map((a) => (/^[A-Za-z0-9_./=:@%+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");

/** A validated request → its JobQueued, or why it is refused (the same caps as labels). Pure. */
export function localJob(jobId: string, r: LocalJobRequest, l: LocalLimits): { ok: true; event: DomainEvent } | { ok: false; reason: string } {
  if (r.vcpus > l.maxVcpus) return { ok: false, reason: `vcpus: ${r.vcpus} is above the cap of ${l.maxVcpus}` };
  if (r.memMiB > l.maxMemGiB * 1024) return { ok: false, reason: `memMiB: ${r.memMiB} is above the cap of ${l.maxMemGiB * 1024}` };
  const script = r.script ?? `exec ${shellQuote(r.argv!)}`;
  if (Buffer.byteLength(script) > MAX_SCRIPT_BYTES) return { ok: false, reason: `argv: the command is over ${MAX_SCRIPT_BYTES} bytes once quoted` };
  const source: JobSource = { provider: "local", repo: "local", org: "local", providerJobId: jobId, labels: [] };
  const egress = requestedEgress(r.egress) ?? l.egress?.(source);
  return {
    ok: true,
    event: {
      type: "JobQueued",
      data: {
        jobId,
        source,
        spec: {
          arch: r.arch ?? l.arch,
          vcpus: r.vcpus,
          memMiB: r.memMiB,
          diskGiB: r.diskGiB ?? 1,
          image: r.image ?? "minimal",
          timeoutSec: r.timeoutSec,
          ...(egress ? { egress } : {}),
        },
        script,
      },
    },
  };
}
