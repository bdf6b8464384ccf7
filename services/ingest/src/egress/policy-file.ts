import { EgressAllowEntry, type EgressPolicy, type JobSource } from "@oneshot/proto";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

/** Names of rules: they appear in the audit trail as `rule:<name>`. */
const RuleName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be 1-64 chars of [A-Za-z0-9_.-]");

const Lower = z
  .string()
  .min(1)
  .max(256)
  .transform((s) => s.toLowerCase());

/**
 * Which jobs a rule covers; every field given must hold. `repo` and `org` are compared without
 * case; `repo` may end in `/*` (every repo of the org). `labels`: the job carries all of them.
 */
const Match = z
  .object({
    provider: z.enum(["github", "gitlab", "local"]).optional(),
    org: Lower.optional(),
    repo: Lower.optional(),
    labels: z.array(Lower).max(32).optional(),
  })
  .strict();

const Rule = z
  .object({
    name: RuleName,
    match: Match.default({}),
    mode: z.enum(["open", "allow", "audit"]),
    allow: z.array(EgressAllowEntry).max(256).default([]),
  })
  .strict()
  .refine((r) => r.mode !== "allow" || r.allow.length > 0, { message: "mode allow needs a non-empty allow list (mode open allows everything)" });

/**
 * The control plane's egress policy file (INGEST_EGRESS_POLICY_FILE, YAML or JSON;
 * docs/egress-policy.md): rules in order, the first that matches a job gives its policy;
 * `default` for the rest (absent: open, as before policies).
 */
export const EgressPolicyFile = z
  .object({
    default: z
      .object({ mode: z.enum(["open", "allow", "audit"]), allow: z.array(EgressAllowEntry).max(256).default([]) })
      .strict()
      .optional(),
    rules: z.array(Rule).max(1000).default([]),
  })
  .strict()
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.rules.forEach((r, i) => {
      if (seen.has(r.name)) ctx.addIssue({ code: "custom", path: ["rules", i, "name"], message: `"${r.name}" is used twice` });
      seen.add(r.name);
    });
    if (f.default?.mode === "allow" && !f.default.allow.length)
      ctx.addIssue({ code: "custom", path: ["default", "allow"], message: "mode allow needs a non-empty allow list" });
  });
export type EgressPolicyFile = z.infer<typeof EgressPolicyFile>;

/** The file's text → the parsed policy, or one line saying what is wrong and where (path in the file). */
export function parsePolicyFile(text: string): { ok: true; file: EgressPolicyFile } | { ok: false; error: string } {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    return { ok: false, error: `not YAML or JSON: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}` };
  }
  const r = EgressPolicyFile.safeParse(doc ?? {});
  if (r.success) return { ok: true, file: r.data };
  const i = r.error.issues[0]!;
  return {
    ok: false,
    error: `${i.path.length ? i.path.join(".") : "(top)"}: ${i.message}${r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more)` : ""}`,
  };
}

const matches = (m: z.infer<typeof Match>, s: JobSource): boolean => {
  if (m.provider && m.provider !== s.provider) return false;
  if (m.org && m.org !== s.org.toLowerCase()) return false;
  if (m.repo) {
    const repo = s.repo.toLowerCase();
    if (m.repo.endsWith("/*") ? !repo.startsWith(m.repo.slice(0, -1)) : m.repo !== repo) return false;
  }
  const labels = new Set(s.labels.map((l) => l.toLowerCase()));
  return (m.labels ?? []).every((l) => labels.has(l));
};

/** The policy a job runs under (pure): the first rule that matches its source, else the default. */
export function resolveEgress(f: EgressPolicyFile, s: JobSource): EgressPolicy {
  for (const r of f.rules) if (matches(r.match, s)) return { mode: r.mode, allow: r.mode === "open" ? [] : r.allow, source: `rule:${r.name}` };
  const d = f.default ?? { mode: "open" as const, allow: [] };
  return { mode: d.mode, allow: d.mode === "open" ? [] : d.allow, source: "default" };
}

/**
 * A local job's own request (`oneshot run --egress-allow … --egress-audit`): an allow list
 * makes it `allow`, `audit` makes it `audit` (with the list, or empty: every destination is
 * recorded). Undefined when the request asks for nothing: the policy file decides.
 */
export function requestedEgress(r: { allow?: string[]; audit?: boolean } | undefined): EgressPolicy | undefined {
  if (!r || (!r.allow?.length && !r.audit)) return undefined;
  return { mode: r.audit ? "audit" : "allow", allow: r.allow ?? [], source: "cli" };
}
