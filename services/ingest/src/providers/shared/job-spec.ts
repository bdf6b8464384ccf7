import type { EgressPolicy, JobSource, JobSpec } from "@oneshot/proto";
import type { SizeDefaults } from "./labels.js";

/** What a CI job gets beyond what its labels say: the same for every provider. */
export interface JobDefaults extends SizeDefaults {
  diskGiB: number;
  timeoutSec: number;
  image: string;
  /** The egress policy file's resolver (INGEST_EGRESS_POLICY_FILE); absent: jobs carry no policy (open). */
  egress?: (s: JobSource) => EgressPolicy;
}

/** Labels as they are stored: lowercased, each cut to what JobSource holds, at most 100. */
export const storedLabels = (labels: readonly string[]) => [...new Set(labels.map((l) => l.trim().toLowerCase().slice(0, 128)))].slice(0, 100);

/** The VM a labelled CI job boots: the size (and a `net-<N>mbit` rate) from its labels, the egress policy from its source, the rest from the defaults. */
export const specFrom = (size: { arch: JobSpec["arch"]; vcpus: number; memMiB: number; netMbit?: number }, d: JobDefaults, source?: JobSource): JobSpec => ({
  arch: size.arch,
  vcpus: size.vcpus,
  memMiB: size.memMiB,
  diskGiB: d.diskGiB,
  image: d.image,
  timeoutSec: d.timeoutSec,
  ...(size.netMbit ? { netMbit: size.netMbit } : {}),
  ...(d.egress && source ? { egress: d.egress(source) } : {}),
});
