import { describe, expect, it } from "vitest";
import { clusterConcurrencyWarning } from "./nats.js";

describe("the clustered nats-server version check", () => {
  it("warns for a cluster of a server before 2.9.21, whose expected-sequence checks race", () => {
    expect(clusterConcurrencyWarning("2.9.10", "oneshot")).toMatch(/2\.9\.10 .*fixed in 2\.9\.21/);
    expect(clusterConcurrencyWarning("2.8.4", "c")).toBeDefined();
  });
  it("stays quiet for a fixed server, or for a server outside a cluster", () => {
    expect(clusterConcurrencyWarning("2.9.21", "c")).toBeUndefined();
    expect(clusterConcurrencyWarning("2.10.24", "c")).toBeUndefined();
    expect(clusterConcurrencyWarning("2.9.10", undefined)).toBeUndefined();
  });
});
