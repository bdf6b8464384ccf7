import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { identitiesDoc } from "./identities-doc.js";
import { identityPermissions } from "./nats-permissions.js";

describe("docs/identities.md", () => {
  it("is what the permission rules generate today (regenerate: npx tsx scripts/write-identities-doc.ts)", () => {
    expect(readFileSync(join(import.meta.dirname, "..", "..", "..", "..", "docs", "identities.md"), "utf8")).toBe(identitiesDoc());
  });

  it("gives a hostd no way to write its host subject or touch another's durable, and audit no event subject", () => {
    const perms = identityPermissions({ hosts: ["metal-01", "metal-02"], audit: ["audit"] });
    const h = perms.find((p) => p.name === "hostd-metal-01")!;
    expect(h.publish.allow).not.toContain("evt.host.metal-01");
    expect(h.publish.allow.filter((s) => s.includes("metal-02"))).toEqual([]);
    const audit = perms.find((p) => p.name === "audit")!;
    expect(audit.publish.allow.filter((s) => s.startsWith("evt.") || s.startsWith("dlq.") || s.startsWith("$KV"))).toEqual([]);
    for (const p of perms.filter((x) => x.role !== "admin" && x.role !== "hostd")) {
      expect(p.publish.deny, p.name).toContain("$JS.API.CONSUMER.DELETE.EVENTS.hostd-metal-01");
    }
  });
});
