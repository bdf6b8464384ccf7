import type { DomainEvent } from "@oneshot/proto";
import { z } from "zod";

/** `POST /v1/jobs`: an ad-hoc job from the CLI. */
export const LocalJobRequest = z
  .object({
    script: z.string().min(1).max(256 * 1024).optional(),
    argv: z.array(z.string().max(64 * 1024)).min(1).max(4096).optional(),
    arch: z.enum(["amd64", "arm64"]).optional(),
    vcpus: z.number().int().min(1).max(256),
    memMiB: z.number().int().min(64).max(1024 * 1024),
    diskGiB: z.number().int().min(1).max(4096).optional(),
    image: z.string().regex(/^[a-z0-9-]{1,64}$/).optional(),
    timeoutSec: z.number().int().min(1).max(7 * 24 * 3600),
  })
  .strict()
  .refine((r) => Boolean(r.script) !== Boolean(r.argv), { message: "give exactly one of script or argv" });
export type LocalJobRequest = z.infer<typeof LocalJobRequest>;

/** POSIX shell quoting: the argv runs exactly as given, whatever it contains. */
export const shellQuote = (argv: string[]) => argv.map((a) => (/^[A-Za-z0-9_./=:@%+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");

export function localJob(jobId: string, r: LocalJobRequest, defaultArch: "amd64" | "arm64"): DomainEvent {
  return {
    type: "JobQueued",
    data: {
      jobId,
      source: { provider: "local", repo: "local", org: "local", providerJobId: jobId, labels: [] },
      spec: { arch: r.arch ?? defaultArch, vcpus: r.vcpus, memMiB: r.memMiB, diskGiB: r.diskGiB ?? 1, image: r.image ?? "minimal", timeoutSec: r.timeoutSec },
      script: r.script ?? `exec ${shellQuote(r.argv!)}`,
    },
  };
}
