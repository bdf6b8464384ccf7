import { readFileSync } from "node:fs";
import type { EgressPolicy, JobSource } from "@oneshot/proto";
import { ConfigError } from "@oneshot/runtime";
import { parsePolicyFile, resolveEgress, type EgressPolicyFile } from "./policy-file.js";

const loaded = new Map<string, EgressPolicyFile>();

/**
 * INGEST_EGRESS_POLICY_FILE read and checked (once per path: ingest reads it at start), or
 * undefined when none is configured. Throws ConfigError naming the variable and the place in the file.
 */
export function loadEgressPolicy(path: string | undefined, read = (p: string) => readFileSync(p, "utf8")): EgressPolicyFile | undefined {
  if (!path) return undefined;
  const known = loaded.get(path);
  if (known) return known;
  let text: string;
  try {
    text = read(path);
  } catch (e) {
    throw new ConfigError("INGEST_EGRESS_POLICY_FILE", `cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const r = parsePolicyFile(text);
  if (!r.ok) throw new ConfigError("INGEST_EGRESS_POLICY_FILE", `${path}: ${r.error}`);
  loaded.set(path, r.file);
  return r.file;
}

/** The resolver jobs are queued with, or undefined without a policy file (their spec then has no `egress`: open). */
export function egressResolver(path: string | undefined): ((s: JobSource) => EgressPolicy) | undefined {
  const f = loadEgressPolicy(path);
  return f ? (s) => resolveEgress(f, s) : undefined;
}
