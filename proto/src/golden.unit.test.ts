import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { catalog, decode, peekEnvelope } from "./index.js";

const dir = join(import.meta.dirname, "..", "golden");
const files = readdirSync(dir).filter((f) => f.endsWith(".msgpack"));

describe("golden payloads (frozen: a published version is never edited)", () => {
  it("exist for every version of every message in the catalog", () => {
    const missing: string[] = [];
    for (const [type, entry] of Object.entries(catalog)) {
      for (const v of Object.keys(entry.versions)) {
        if (!files.includes(`${type}.v${v}.msgpack`)) missing.push(`${type}.v${v}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it.each(files)("%s decodes to the latest version", (file) => {
    const [, type, version] = /^(\w+)\.v(\d+)\.msgpack$/.exec(file)!;
    const bytes = readFileSync(join(dir, file));
    const raw = peekEnvelope(bytes);
    expect(raw?.type).toBe(type);
    expect(raw?.version).toBe(Number(version));
    const decoded = decode(bytes, { subject: "golden", seq: 1 });
    expect(decoded.type).toBe(type);
    expect(decoded.version).toBe(catalog[type as keyof typeof catalog].latest);
    expect(decoded.correlationId).toBe(raw?.correlationId);
  });
});

describe("upcasters keep what a published version meant", () => {
  const load = (f: string) => decode(readFileSync(join(dir, f)), { subject: "golden", seq: 1 });
  it("a v1 JobStarted came from a webhook", () => {
    expect(load("JobStarted.v1.msgpack").data).toMatchObject({ reportedBy: "webhook" });
  });
  it("a v1 JobRequeued ended the named VM's reservation", () => {
    expect(load("JobRequeued.v1.msgpack").data).toMatchObject({ releasesVm: true });
  });
  it("a v1 RunnerConfigReply's kind becomes v2's provider", () => {
    expect(load("RunnerConfigReply.v1.msgpack").data).toMatchObject({ result: { ok: true, provider: "github" } });
  });
});

describe("egress policies (issue 19)", () => {
  const load = (f: string) => decode(readFileSync(join(dir, f)), { subject: "golden", seq: 1 });
  it("a v2 JobQueued and a v3 JobScheduled carry no egress policy: open, as they ran", () => {
    expect((load("JobQueued.v2.msgpack").data as { spec: { egress?: unknown } }).spec.egress).toBeUndefined();
    expect((load("JobScheduled.v3.msgpack").data as { spec: { egress?: unknown } }).spec.egress).toBeUndefined();
  });
  it("v3 JobQueued and v4 JobScheduled keep the policy the job ran under", () => {
    expect(load("JobQueued.v3.msgpack").data).toMatchObject({ spec: { egress: { mode: "allow", source: "rule:acme-builds" } } });
    expect(load("JobScheduled.v4.msgpack").data).toMatchObject({
      spec: { egress: { mode: "allow", allow: ["github.com", "*.githubusercontent.com", "203.0.113.0/24"] } },
    });
  });
});
