import { z } from "zod";
import { EgressPolicy } from "./egress.js";

/** Ids are used as NATS subject tokens: no dots, spaces or wildcards. */
export const Id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 chars of [A-Za-z0-9_-]");
export const Arch = z.enum(["amd64", "arm64"]);
export type Arch = z.infer<typeof Arch>;
export const Provider = z.enum(["github", "gitlab", "local"]);
export type Provider = z.infer<typeof Provider>;
export const IsoTime = z.string().datetime({ offset: true });

/** VM ids become tap names `os-<vmId>`: at most 12 of [a-z0-9] so the name fits IFNAMSIZ (15). */
export const VmId = z.string().regex(/^[a-z0-9]{1,12}$/, "must be 1-12 chars of [a-z0-9]");

/** What a job asks for; what a host offers is the same shape (Capacity). */
export const Resources = z.object({
  vcpus: z.number().int().positive(),
  memMiB: z.number().int().positive(),
  diskGiB: z.number().int().positive(),
});
export type Resources = z.infer<typeof Resources>;

/** JobSpec as JobQueued v1 and JobScheduled v1 carry it (frozen). */
export const JobSpecV1 = Resources.extend({
  arch: Arch,
  /** Guest image name, e.g. `minimal` or `full`. */
  image: z.string().min(1).max(64),
  timeoutSec: z.number().int().positive(),
});

/** JobSpec as JobQueued v2 and JobScheduled v2/v3 carry it (frozen): no `egress`. */
export const JobSpecV2 = JobSpecV1.extend({
  /**
   * The network rate the job asked for (a `net-<N>mbit` label), Mbit/s each way; absent = the
   * host's default. hostd cuts it down to its operator's cap (HOSTD_NET_MAX_RATE_MBIT).
   */
  netMbit: z.number().int().positive().max(1_000_000).optional(),
});

export const JobSpec = JobSpecV2.extend({
  /**
   * The egress policy the job runs under (docs/egress-policy.md), resolved by ingest from the
   * control plane's policy file or `oneshot run --egress-*`; absent = `open` (jobs queued before
   * egress policies).
   */
  egress: EgressPolicy.optional(),
});
export type JobSpec = z.infer<typeof JobSpec>;

export const Vmm = z.enum(["qemu", "firecracker"]);
export type Vmm = z.infer<typeof Vmm>;
export const Accel = z.enum(["kvm", "tcg"]);
export type Accel = z.infer<typeof Accel>;

/** An event body: `{type, data}`, discriminated on `type`. The envelope is added by the codec. */
export const defineEvent = <T extends string, S extends z.ZodRawShape>(type: T, data: S) => z.object({ type: z.literal(type), data: z.object(data) });

/**
 * The VM id of a placement, derived from the job and its attempt: deterministic, so two
 * schedulers that place the same job compute the same id, and replays reproduce it.
 * 10 chars of [a-z0-9] (tap name `os-<vmId>` fits 15).
 */
export function vmIdFor(jobId: string, attempt: number): string {
  // FNV-1a 64-bit over the UTF-16 code units, printed in base 36: pure, no crypto needed.
  let h = 0xcbf29ce484222325n;
  const s = `${jobId}#${attempt}`;
  for (let i = 0; i < s.length; i++) {
    h ^= BigInt(s.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(36).padStart(10, "0").slice(-10);
}
