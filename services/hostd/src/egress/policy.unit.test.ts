import { describe, expect, it } from "vitest";
import type { EgressPolicy } from "@oneshot/proto";
import { allowTimeout, decideQuery, nameAllowed, policyCidrs, vmEgressOf } from "./policy.js";

const allow = ["example.com", "*.usercontent.example.org", "10.0.0.0/8", "203.0.113.7"];
const policy = (mode: EgressPolicy["mode"]): EgressPolicy => ({ mode, allow, source: "cli" });

describe("allow list matching", () => {
  it("a name allows exactly itself; a wildcard every name below it, not itself; case and a trailing dot do not matter", () => {
    expect(nameAllowed(allow, "example.com")).toBe(true);
    expect(nameAllowed(allow, "EXAMPLE.com.")).toBe(true);
    expect(nameAllowed(allow, "www.example.com")).toBe(false);
    expect(nameAllowed(allow, "notexample.com")).toBe(false);
    expect(nameAllowed(allow, "raw.usercontent.example.org")).toBe(true);
    expect(nameAllowed(allow, "a.b.usercontent.example.org")).toBe(true);
    expect(nameAllowed(allow, "usercontent.example.org")).toBe(false);
    expect(nameAllowed(allow, "evilusercontent.example.org")).toBe(false);
    expect(nameAllowed(allow, "10.0.0.1")).toBe(false);
  });

  it("CIDRs and addresses go to nft; names do not", () => {
    expect(policyCidrs(allow)).toEqual(["10.0.0.0/8", "203.0.113.7"]);
    expect(vmEgressOf(policy("allow"))).toEqual({ mode: "allow", cidrs: ["10.0.0.0/8", "203.0.113.7"] });
    expect(vmEgressOf(policy("audit")).mode).toBe("audit");
    expect(vmEgressOf(undefined)).toEqual({ mode: "open", cidrs: [] });
    expect(vmEgressOf(policy("open"))).toEqual({ mode: "open", cidrs: [] });
  });
});

describe("the DNS proxy's decision per query", () => {
  it("open: forwarded, nothing added or recorded", () => {
    expect(decideQuery(undefined, "anything.net")).toEqual({ forward: true, allowAnswers: false });
    expect(decideQuery(policy("open"), "anything.net")).toEqual({ forward: true, allowAnswers: false });
  });
  it("allow: listed names forwarded and their addresses allowed; others refused and recorded", () => {
    expect(decideQuery(policy("allow"), "example.com")).toEqual({ forward: true, allowAnswers: true });
    expect(decideQuery(policy("allow"), "evil.net")).toEqual({ forward: false, allowAnswers: false, record: "refused" });
  });
  it("audit: everything forwarded; listed names allowed (so their connections are not reported), others recorded", () => {
    expect(decideQuery(policy("audit"), "example.com")).toEqual({ forward: true, allowAnswers: true });
    expect(decideQuery(policy("audit"), "evil.net")).toEqual({ forward: true, allowAnswers: false, record: "allowed" });
  });
});

describe("allow set timeouts from TTLs", () => {
  const b = { minSec: 30, maxSec: 3600 };
  it("within the bounds: the TTL itself, for the set and the guest", () => {
    expect(allowTimeout(300, b)).toEqual({ timeoutSec: 300, guestTtl: 300 });
  });
  it("a short TTL is held at least the floor (the guest keeps its short TTL)", () => {
    expect(allowTimeout(0, b)).toEqual({ timeoutSec: 30, guestTtl: 0 });
    expect(allowTimeout(5.7, b)).toEqual({ timeoutSec: 30, guestTtl: 5 });
  });
  it("a long TTL is cut to the ceiling, and so is what the guest is told", () => {
    expect(allowTimeout(86400, b)).toEqual({ timeoutSec: 3600, guestTtl: 3600 });
  });
});
