import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing } from "@oneshot/testing";
import { GITLAB_TOKEN, fixture, sign, startIngest, type IngestUnderTest } from "../../test/harness.js";

const skip = missing("nats");

/** A JSON value of any shape, for replacing parts of a real payload. */
const anyJson = fc.jsonValue({ maxDepth: 2 });

describe.skipIf(skip)("body handling under random input (property, real HTTP server and nats-server)", () => {
  let t: IngestUnderTest;
  beforeAll(async () => {
    t = await startIngest({ env: { INGEST_MAX_BODY_BYTES: "4096" } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("a body that is not signed with the secret never stores anything and never gets a 2xx or a 5xx", async () => {
    const before = await t.lastSeq();
    const body = fc.oneof(
      fc.string({ maxLength: 600 }),
      fc.uint8Array({ maxLength: 6000 }).map((b) => Buffer.from(b)),
      anyJson.map((j) => JSON.stringify(j)),
      fc.constant(fixture("workflow_job.queued.json")),
    );
    const signature = fc.oneof(
      fc.constant(undefined),
      fc.uint8Array({ minLength: 32, maxLength: 32 }).map((h) => `sha256=${Buffer.from(h).toString("hex")}`),
      fc.string({ maxLength: 80 }),
      fc.constant("wrong-secret"),
    );
    await fc.assert(
      fc.asyncProperty(
        body,
        signature,
        fc.constantFrom("workflow_job", "ping", "push", undefined),
        fc.constantFrom("application/json", "text/plain", undefined),
        async (b, sig, event, type) => {
          const headers: Record<string, string> = { "x-github-delivery": "0e1f2a3b-fuzz" };
          if (event) headers["x-github-event"] = event;
          if (type) headers["content-type"] = type;
          if (sig === "wrong-secret") headers["x-hub-signature-256"] = sign(b, "wrong-secret");
          else if (sig !== undefined && /^[\x20-\x7e]*$/.test(sig)) headers["x-hub-signature-256"] = sig;
          const r = await fetch(`${t.base}/webhooks/github`, { method: "POST", headers, body: b });
          expect([400, 401, 413]).toContain(r.status);
          await r.arrayBuffer();
        },
      ),
      { numRuns: 60 },
    );
    expect(await t.lastSeq()).toBe(before);
  });

  it("a signed real payload with any part replaced gets 2xx or 400, never a 5xx, and stores only valid events", async () => {
    const real = JSON.parse(fixture("workflow_job.queued.json")) as { workflow_job: Record<string, unknown> } & Record<string, unknown>;
    const topKeys = Object.keys(real);
    const jobKeys = Object.keys(real.workflow_job);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...topKeys.map((k) => [k] as const), ...jobKeys.map((k) => ["workflow_job", k] as const)),
        fc.option(anyJson, { nil: undefined }),
        async (path, value) => {
          const p = structuredClone(real) as Record<string, Record<string, unknown>>;
          p.workflow_job!.id = 5_000_000 + ++n; // one job per run: its history starts empty
          const parent = path.length === 1 ? (p as Record<string, unknown>) : p.workflow_job!;
          const key = path[path.length - 1]!;
          if (value === undefined) delete parent[key];
          else parent[key] = value;
          const body = JSON.stringify(p);
          const r = await fetch(`${t.base}/webhooks/github`, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              "x-github-event": "workflow_job",
              "x-github-delivery": `fuzz-${n}`,
              "x-hub-signature-256": sign(body),
            },
            body,
          });
          expect([200, 202, 400, 413]).toContain(r.status);
          const reply = (await r.json()) as { jobId?: string };
          // Whatever was stored decodes (readAggregate validates every event against its schema).
          if (r.status === 202 && reply.jobId) await t.events(reply.jobId);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("a GitLab hook with a wrong token never stores anything, whatever the body", async () => {
    const before = await t.lastSeq();
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 40 }).filter((s) => s !== GITLAB_TOKEN && /^[\x20-\x7e]*$/.test(s)),
        fc.string({ maxLength: 300 }),
        async (token, body) => {
          const r = await fetch(`${t.base}/webhooks/gitlab`, {
            method: "POST",
            headers: { "content-type": "application/json", "x-gitlab-event": "Job Hook", "x-gitlab-token": token },
            body,
          });
          expect(r.status).toBe(401);
          await r.arrayBuffer();
        },
      ),
      { numRuns: 40 },
    );
    expect(await t.lastSeq()).toBe(before);
  });
});
