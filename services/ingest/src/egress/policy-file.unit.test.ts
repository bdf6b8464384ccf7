import { describe, expect, it } from "vitest";
import type { JobSource } from "@oneshot/proto";
import { ConfigError } from "@oneshot/runtime";
import { localJob } from "../providers/local/job.js";
import { loadEgressPolicy } from "./load-policy.js";
import { parsePolicyFile, requestedEgress, resolveEgress } from "./policy-file.js";

const yaml = `
default: { mode: audit }
rules:
  - name: release-builds
    match: { org: acme, labels: [release] }
    mode: allow
    allow: [github.com, "*.githubusercontent.com", 203.0.113.0/24]
  - name: acme-all
    match: { repo: "acme/*" }
    mode: open
  - name: gitlab-locked
    match: { provider: gitlab }
    mode: allow
    allow: [gitlab.example.com]
`;
const source = (o: Partial<JobSource>): JobSource => ({ provider: "github", repo: "acme/widgets", org: "acme", providerJobId: "1", labels: ["oneshot"], ...o });
const file = () => {
  const r = parsePolicyFile(yaml);
  if (!r.ok) throw new Error(r.error);
  return r.file;
};

describe("the egress policy file", () => {
  it("the first rule that matches gives the policy, named in the audit trail; else the default", () => {
    const f = file();
    expect(resolveEgress(f, source({ labels: ["oneshot", "Release"] }))).toEqual({
      mode: "allow",
      allow: ["github.com", "*.githubusercontent.com", "203.0.113.0/24"],
      source: "rule:release-builds",
    });
    expect(resolveEgress(f, source({ repo: "ACME/gadgets", org: "other" }))).toEqual({ mode: "open", allow: [], source: "rule:acme-all" });
    expect(resolveEgress(f, source({ provider: "gitlab", repo: "x/y", org: "x" })).source).toBe("rule:gitlab-locked");
    expect(resolveEgress(f, source({ repo: "acmeco/widgets", org: "acmeco" }))).toEqual({ mode: "audit", allow: [], source: "default" });
    const empty = parsePolicyFile("");
    expect(empty.ok && resolveEgress(empty.file, source({}))).toEqual({ mode: "open", allow: [], source: "default" });
  });

  it("JSON is YAML too", () => {
    const r = parsePolicyFile(JSON.stringify({ rules: [{ name: "a", match: { org: "acme" }, mode: "allow", allow: ["example.com"] }] }));
    expect(r.ok).toBe(true);
  });

  it("says what is wrong and where, in one line", () => {
    expect(parsePolicyFile("rules: [{ name: a, mode: allow }]")).toEqual({
      ok: false,
      error: "rules.0: mode allow needs a non-empty allow list (mode open allows everything)",
    });
    expect(parsePolicyFile("rules: [{ name: a, mode: allow, allow: [Example.COM] }]")).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^rules\.0\.allow\.0: must be a lower-case DNS name/),
    });
    expect(parsePolicyFile("rules: [{ name: a, mode: deny }]")).toMatchObject({ ok: false, error: expect.stringMatching(/^rules\.0\.mode: /) });
    expect(parsePolicyFile("rules: [{ name: a, mode: open, matches: {} }]")).toMatchObject({ ok: false, error: expect.stringMatching(/^rules\.0: .*matches/) });
    expect(parsePolicyFile("rules: [{ name: a, mode: open }, { name: a, mode: audit }]")).toMatchObject({
      ok: false,
      error: 'rules.1.name: "a" is used twice',
    });
    expect(parsePolicyFile("rules: [ {")).toMatchObject({ ok: false, error: expect.stringMatching(/^not YAML or JSON/) });
  });

  it("a bad file stops ingest with a ConfigError naming the variable", () => {
    expect(() => loadEgressPolicy("/nonexistent/policy.yaml")).toThrow(ConfigError);
    expect(() => loadEgressPolicy("/x/bad.yaml", () => "default: { mode: allow }")).toThrow(
      /INGEST_EGRESS_POLICY_FILE.*default\.allow: mode allow needs a non-empty allow list/,
    );
    expect(loadEgressPolicy(undefined)).toBeUndefined();
  });
});

describe("a local job's own policy (oneshot run --egress-allow … --egress-audit)", () => {
  const limits = { arch: "amd64" as const, maxVcpus: 4, maxMemGiB: 4 };
  const req = { script: "true", vcpus: 1, memMiB: 256, timeoutSec: 60 };
  const specOf = (r: object, l: object = limits) => {
    const j = localJob("loc-1", { ...req, ...r }, { ...limits, ...l });
    if (!j.ok || j.event.type !== "JobQueued") throw new Error("not queued");
    return j.event.data.spec;
  };

  it("an allow list is allow mode, --egress-audit audit mode, neither: the file's policy, or none", () => {
    expect(requestedEgress({ allow: ["example.com", "10.0.0.0/8"] })).toEqual({ mode: "allow", allow: ["example.com", "10.0.0.0/8"], source: "cli" });
    expect(requestedEgress({ allow: ["example.com"], audit: true })).toEqual({ mode: "audit", allow: ["example.com"], source: "cli" });
    expect(requestedEgress({ audit: true })).toEqual({ mode: "audit", allow: [], source: "cli" });
    expect(requestedEgress({})).toBeUndefined();
    expect(specOf({ egress: { allow: ["example.com"] } }).egress).toEqual({ mode: "allow", allow: ["example.com"], source: "cli" });
    expect(specOf({}).egress).toBeUndefined();
    const f = file();
    expect(specOf({}, { egress: (s: JobSource) => resolveEgress(f, s) }).egress).toEqual({ mode: "audit", allow: [], source: "default" });
  });
});
