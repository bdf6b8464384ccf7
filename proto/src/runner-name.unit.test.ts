import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { vmIdFor } from "@oneshot/proto";
import { RUNNER_NAME_MAX, parseRunnerName, runnerNameFor } from "./runner-name.js";

describe("runner names", () => {
  it("are oneshot-<hostId>-<vmId> and parse back", () => {
    const vmId = vmIdFor("gh-1", 0);
    expect(runnerNameFor("metal-01", vmId)).toBe(`oneshot-metal-01-${vmId}`);
    expect(parseRunnerName(`oneshot-metal-01-${vmId}`)).toEqual({ hostId: "metal-01", vmId });
  });

  it("are not ours when they do not look like ours", () => {
    for (const n of [null, undefined, "", "GitHub Actions 2", "oneshot", "oneshot-host", "my-runner-abc", "oneshot-h-UPPER"])
      expect(parseRunnerName(n)).toBeUndefined();
  });

  it("fit GitHub's 64 characters and always keep the VM id (property)", () => {
    const hostId = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
    const vmId = fc.stringMatching(/^[a-z0-9]{1,12}$/);
    fc.assert(
      fc.property(hostId, vmId, (h, v) => {
        const name = runnerNameFor(h, v);
        expect(name.length).toBeLessThanOrEqual(RUNNER_NAME_MAX);
        const parsed = parseRunnerName(name);
        expect(parsed?.vmId).toBe(v);
        if (parsed?.hostId !== undefined) expect(parsed.hostId).toBe(h);
      }),
    );
  });
});
