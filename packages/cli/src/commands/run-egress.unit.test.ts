import { describe, expect, it } from "vitest";
import { egressRequest } from "./run.js";

describe("oneshot run --egress-allow / --egress-audit", () => {
  it("a list is an allow list (lower-cased, trailing dots dropped), --egress-audit asks for audit, neither asks for nothing", () => {
    expect(egressRequest({ egressAllow: "Example.com., *.githubusercontent.com , 10.0.0.0/8" })).toEqual({
      allow: ["example.com", "*.githubusercontent.com", "10.0.0.0/8"],
    });
    expect(egressRequest({ egressAllow: "example.com", egressAudit: true })).toEqual({ allow: ["example.com"], audit: true });
    expect(egressRequest({ egressAudit: true })).toEqual({ audit: true });
    expect(egressRequest({})).toBeUndefined();
  });

  it("refuses what is neither a name nor a CIDR, in one line naming the flag", () => {
    expect(() => egressRequest({ egressAllow: "example.com,http://x.org" })).toThrow(/--egress-allow: "http:\/\/x\.org" must be/);
    expect(() => egressRequest({ egressAllow: " , " })).toThrow(/--egress-allow: give names or CIDRs/);
  });
});
