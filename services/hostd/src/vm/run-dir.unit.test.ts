import { describe, expect, it } from "vitest";
import { VmRecord } from "./run-dir.js";

const spec = { arch: "amd64", vcpus: 1, memMiB: 256, diskGiB: 1, image: "minimal", timeoutSec: 60 };
const base = { vmId: "k3j9x2ab", jobId: "gh-1", hostId: "h1", attempt: 0, spec, correlationId: "c", scheduledEventId: "e", phase: "accepted", acceptedAt: "2026-12-01T00:00:00Z" };

describe("run-dir records across the provider-neutral upgrade", () => {
  it.each([["local", "script"], ["github", "runner"], ["gitlab", "runner"], ["script", "script"], ["runner", "runner"]])(
    "reads kind %s (a record written by %s hostd) as %s", (kind, want) => {
      expect(VmRecord.parse({ ...base, kind }).kind).toBe(want);
    });

  it("refuses an unknown kind", () => {
    expect(VmRecord.safeParse({ ...base, kind: "jenkins" }).success).toBe(false);
  });

  it("a record round-trips, and holds no launch (provider and runner name only)", () => {
    const rec = VmRecord.parse({ ...base, kind: "runner", provider: "any", runnerName: "oneshot-h1-k3j9x2ab" });
    expect(VmRecord.parse(JSON.parse(JSON.stringify(rec)))).toEqual(rec);
    expect(Object.keys(VmRecord.shape)).not.toEqual(expect.arrayContaining(["launch"]));
    expect(VmRecord.parse({ ...base, kind: "runner", launch: { env: { T: "secret" } } })).not.toHaveProperty("launch");
  });
});
