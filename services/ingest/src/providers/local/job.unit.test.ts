import { describe, expect, it } from "vitest";
import { LocalJobRequest, localJob, shellQuote } from "./job.js";

const limits = { arch: "amd64" as const, maxVcpus: 8, maxMemGiB: 16 };
const base = { vcpus: 1, memMiB: 256, timeoutSec: 60 };

describe("local job requests (POST /v1/jobs)", () => {
  it("takes a script or an argv, never both or neither", () => {
    expect(LocalJobRequest.safeParse({ ...base, script: "echo hi" }).success).toBe(true);
    expect(LocalJobRequest.safeParse({ ...base, argv: ["true"] }).success).toBe(true);
    expect(LocalJobRequest.safeParse({ ...base, script: "x", argv: ["y"] }).success).toBe(false);
    expect(LocalJobRequest.safeParse(base).success).toBe(false);
  });

  it("refuses unknown fields, bad types and bad image names", () => {
    expect(LocalJobRequest.safeParse({ ...base, script: "x", privileged: true }).success).toBe(false);
    expect(LocalJobRequest.safeParse({ ...base, script: "x", vcpus: 1.5 }).success).toBe(false);
    expect(LocalJobRequest.safeParse({ ...base, script: "x", image: "../etc" }).success).toBe(false);
    expect(LocalJobRequest.safeParse({ ...base, script: "x", arch: "riscv64" }).success).toBe(false);
  });

  it("→ JobQueued carrying the script, with the defaults filled in", () => {
    const r = localJob("loc-1", LocalJobRequest.parse({ ...base, script: "echo hi", arch: "arm64" }), limits);
    expect(r).toEqual({
      ok: true,
      event: {
        type: "JobQueued",
        data: {
          jobId: "loc-1",
          script: "echo hi",
          source: { provider: "local", repo: "local", org: "local", providerJobId: "loc-1", labels: [] },
          spec: { arch: "arm64", vcpus: 1, memMiB: 256, diskGiB: 1, image: "minimal", timeoutSec: 60 },
        },
      },
    });
  });

  it("quotes an argv so it runs exactly as given", () => {
    expect(shellQuote(["sh", "-c", "echo 'hi there'; exit 3"])).toBe(`sh -c 'echo '\\''hi there'\\''; exit 3'`);
    expect(shellQuote(["a b", "", "$HOME", "plain-arg_1.2"])).toBe(`'a b' '' '$HOME' plain-arg_1.2`);
  });

  it("applies the same caps as labels, and the size JobQueued can carry", () => {
    expect(localJob("loc-1", LocalJobRequest.parse({ ...base, vcpus: 9, script: "x" }), limits)).toMatchObject({
      ok: false,
      reason: /vcpus: 9 is above the cap of 8/,
    });
    expect(localJob("loc-1", LocalJobRequest.parse({ ...base, memMiB: 16 * 1024 + 1, script: "x" }), limits)).toMatchObject({ ok: false, reason: /memMiB/ });
    const big = Array.from({ length: 8 }, () => "'".repeat(40_000));
    expect(localJob("loc-1", LocalJobRequest.parse({ ...base, argv: big }), limits)).toMatchObject({ ok: false, reason: /once quoted/ });
  });
});
