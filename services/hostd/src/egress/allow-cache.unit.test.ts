import { describe, expect, it } from "vitest";
import { AllowCache } from "./allow-cache.js";

const T0 = 1_000_000;

describe("what the proxy put into allow sets", () => {
  it("a repeat lookup costs no nft call while its entry has half its timeout left; then it is refreshed", () => {
    const c = new AllowCache();
    const want = [{ address: "198.51.100.7", timeoutSec: 60 }];
    expect(c.toAdd("vm1", "172.30.0.2", want, T0)).toEqual(want);
    c.added("vm1", "172.30.0.2", want, T0);
    expect(c.toAdd("vm1", "172.30.0.2", want, T0 + 29_000)).toEqual([]);
    expect(c.toAdd("vm1", "172.30.0.2", want, T0 + 31_000)).toEqual(want);
    expect(c.toAdd("vm1", "172.30.0.2", [{ address: "198.51.100.8", timeoutSec: 60 }], T0)).toHaveLength(1);
  });

  it("a new VM on a reused address counts on nothing of the last one's", () => {
    const c = new AllowCache();
    c.added("vm1", "172.30.0.2", [{ address: "198.51.100.7", timeoutSec: 60 }], T0);
    expect(c.toAdd("vm2", "172.30.0.2", [{ address: "198.51.100.7", timeoutSec: 60 }], T0)).toHaveLength(1);
  });

  it("pruning keeps only unexpired entries of live VMs, with the time they have left (what a rebuilt table gets back)", () => {
    const c = new AllowCache();
    c.added("vm1", "172.30.0.2", [{ address: "198.51.100.7", timeoutSec: 60 }], T0);
    c.added("vm1", "172.30.0.2", [{ address: "198.51.100.8", timeoutSec: 5 }], T0);
    c.added("vm2", "172.30.0.3", [{ address: "198.51.100.9", timeoutSec: 60 }], T0);
    const left = c.prune(T0 + 10_000, new Set(["vm1|172.30.0.2"]));
    expect([...left]).toEqual([["172.30.0.2", [{ address: "198.51.100.7", timeoutSec: 50 }]]]);
    expect(c.size).toBe(1);
  });
});
