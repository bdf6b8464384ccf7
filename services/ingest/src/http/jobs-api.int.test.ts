import { spawnSync } from "node:child_process";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing } from "@oneshot/testing";
import { API_TOKEN, startIngest, type IngestUnderTest } from "../../test/harness.js";
import { shellQuote } from "../providers/local/job.js";

const skip = missing("nats");

describe.skipIf(skip)("POST /v1/jobs (real nats-server)", () => {
  let t: IngestUnderTest;
  beforeAll(async () => {
    t = await startIngest();
  });
  afterAll(async () => {
    await t?.close();
  });
  const post = (body: unknown, auth: string | null = `Bearer ${API_TOKEN}`, headers: Record<string, string> = {}) =>
    fetch(`${t.base}/v1/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(auth === null ? {} : { authorization: auth }), ...headers },
      body: JSON.stringify(body),
    });

  it("refuses a missing or wrong bearer token and stores nothing", async () => {
    const before = await t.lastSeq();
    const job = { script: "true", vcpus: 1, memMiB: 256, timeoutSec: 60 };
    for (const auth of [null, "Bearer nope", `Basic ${API_TOKEN}`, `Bearer ${API_TOKEN}x`, API_TOKEN])
      expect((await post(job, auth)).status, String(auth)).toBe(401);
    expect(await t.lastSeq()).toBe(before);
  });

  it("refuses bad bodies with the field at fault, and sizes above the caps", async () => {
    const cases: [unknown, RegExp][] = [
      [{ vcpus: 1, memMiB: 256, timeoutSec: 60 }, /exactly one of script or argv/],
      [{ script: "x", vcpus: 0, memMiB: 256, timeoutSec: 60 }, /vcpus/],
      [{ script: "x", vcpus: 1, memMiB: 256 }, /timeoutSec/],
      [{ script: "x", vcpus: 1, memMiB: 256, timeoutSec: 60, hostPath: "/" }, /Unrecognized key|unrecognized/i],
      [{ script: "x", vcpus: 64, memMiB: 256, timeoutSec: 60 }, /above the cap of 32/],
    ];
    for (const [body, why] of cases) {
      const r = await post(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(((await r.json()) as { error: string }).error).toMatch(why);
    }
  });

  it("queues a job: 202 {jobId}, a JobQueued carrying the script, the request id as correlation id", async () => {
    const r = await post(
      { argv: ["sh", "-c", "echo 'hi there'; exit 3"], vcpus: 1, memMiB: 256, timeoutSec: 60, arch: "arm64", image: "minimal", diskGiB: 2 },
      `Bearer ${API_TOKEN}`,
      { "x-request-id": "cli-req-1" },
    );
    expect(r.status).toBe(202);
    const { jobId } = (await r.json()) as { jobId: string };
    expect(jobId).toMatch(/^loc-[0-9a-f]{32}$/);
    const [e] = await t.events(jobId);
    expect(e).toMatchObject({
      type: "JobQueued",
      correlationId: "cli-req-1",
      data: {
        jobId,
        spec: { arch: "arm64", vcpus: 1, memMiB: 256, diskGiB: 2, image: "minimal", timeoutSec: 60 },
        script: `exec sh -c 'echo '\\''hi there'\\''; exit 3'`,
        source: { provider: "local" },
      },
    });
    const other = (await (await post({ script: "true", vcpus: 1, memMiB: 256, timeoutSec: 60 })).json()) as { jobId: string };
    expect(other.jobId).not.toBe(jobId);
    expect((await t.events(other.jobId))[0]!.correlationId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("quotes argv so that sh runs exactly the given arguments (property, real sh)", () => {
    // Shell metacharacters often, any other code point sometimes (a NUL cannot be in an argument).
    const unit = fc.oneof(
      fc.constantFrom("'", '"', "\\", "$", "`", " ", "\n", "*", "-", "!", "~", "=", ";", "&", "|", "(", "#"),
      fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
    );
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ unit, maxLength: 20 }).filter((s) => !s.includes("\0")),
          { minLength: 1, maxLength: 5 },
        ),
        (argv) => {
          const out = spawnSync("sh", ["-c", `printf '%s\\0' ${shellQuote(argv)}`], { encoding: "utf8" });
          expect(out.stdout.split("\0").slice(0, -1)).toEqual(argv);
        },
      ),
      { numRuns: 60 },
    );
  });
});
