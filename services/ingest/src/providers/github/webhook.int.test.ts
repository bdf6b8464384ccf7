import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DomainEvent } from "@oneshot/proto";
import { missing } from "@oneshot/testing";
import { PREVIOUS_SECRET, SECRET, deliveryId, postGithub, sign, startIngest, workflowJob, type IngestUnderTest } from "../../../test/harness.js";

const skip = missing("nats");

describe("the signature test vector", () => {
  it("is GitHub's documented example", () => {
    expect(sign("Hello, World!")).toBe("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
    expect(SECRET).toBe("It's a Secret to Everybody");
  });
});

describe.skipIf(skip)("POST /webhooks/github (real nats-server)", () => {
  let t: IngestUnderTest;
  beforeAll(async () => {
    t = await startIngest();
  });
  afterAll(async () => {
    await t?.close();
  });

  it("turns every workflow_job action into the right event, each with its delivery as correlation id", async () => {
    const sent: Record<string, string> = {};
    for (const action of ["queued", "waiting", "in_progress", "completed"] as const) {
      sent[action] = deliveryId();
      const r = await postGithub(t.base, workflowJob(action, 1001), { delivery: sent[action] });
      expect(r.status, action).toBe(202);
      expect(await r.json()).toMatchObject({ ok: true, jobId: "gh-1001" });
    }
    const events = await t.events("gh-1001");
    expect(events.map((e) => e.type)).toEqual(["JobQueued", "JobStarted", "JobCompleted"]);
    expect(events.map((e) => e.correlationId)).toEqual([sent.queued, sent.in_progress, sent.completed]);
    const [queued, started, completed] = events as unknown as [
      Extract<DomainEvent, { type: "JobQueued" }>,
      Extract<DomainEvent, { type: "JobStarted" }>,
      Extract<DomainEvent, { type: "JobCompleted" }>,
    ];
    expect(queued.data).toMatchObject({
      spec: { vcpus: 2, memMiB: 2048, arch: "amd64" },
      source: { provider: "github", repo: "acme/widgets", installationId: 42, labels: ["self-hosted", "oneshot-2cpu-2gb"] },
    });
    expect(started.data).toEqual({ jobId: "gh-1001", runnerName: "oneshot-metal-01-k3j9x2ab", hostId: "metal-01", vmId: "k3j9x2ab", reportedBy: "webhook" });
    expect(completed.data).toEqual({ jobId: "gh-1001", conclusion: "success", exitCode: null, reportedBy: "provider" });
  });

  it("accepts a signature made with the previous secret while a rotation is under way", async () => {
    const body = workflowJob("queued", 1002);
    expect((await postGithub(t.base, body, { signature: sign(body, PREVIOUS_SECRET) })).status).toBe(202);
    expect(await t.history("gh-1002")).toEqual(["JobQueued"]);
  });

  it("stores nothing for forged, unsigned, tampered, malformed, mistyped or wrong-event bodies", async () => {
    const before = await t.lastSeq();
    const body = workflowJob("queued", 1003);
    const cases: [string, Promise<Response>, number][] = [
      ["forged (another secret)", postGithub(t.base, body, { signature: sign(body, "not the secret") }), 401],
      ["unsigned", postGithub(t.base, body, { signature: null }), 401],
      ["tampered after signing", postGithub(t.base, body.replace("1003", "1004"), { signature: sign(body) }), 401],
      ["sha1-style signature", postGithub(t.base, body, { signature: `sha1=${sign(body).slice(7, 47)}` }), 401],
      ["not JSON", postGithub(t.base, "{not json"), 400],
      [
        "not UTF-8",
        fetch(`${t.base}/webhooks/github`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "x-github-event": "workflow_job",
            "x-github-delivery": deliveryId(),
            "x-hub-signature-256": sign(Buffer.from([0x7b, 0xff, 0x7d])),
          },
          body: Buffer.from([0x7b, 0xff, 0x7d]),
        }),
        400,
      ],
      ["form-encoded", postGithub(t.base, body, { contentType: "application/x-www-form-urlencoded" }), 415],
      ["JSON that is not a workflow_job", postGithub(t.base, JSON.stringify({ action: "queued", workflow_job: { id: "x" } })), 400],
      ["labels that are not strings", postGithub(t.base, workflowJob("queued", 1005, { labels: [1, 2] })), 400],
      ["a job id that is not an integer", postGithub(t.base, workflowJob("queued", 10.5)), 400],
      [
        "no event header",
        fetch(`${t.base}/webhooks/github`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-github-delivery": deliveryId(), "x-hub-signature-256": sign(body) },
          body,
        }),
        400,
      ],
      [
        "no delivery header",
        fetch(`${t.base}/webhooks/github`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-github-event": "workflow_job", "x-hub-signature-256": sign(body) },
          body,
        }),
        400,
      ],
      ["a delivery id that is not one", postGithub(t.base, body, { delivery: "a b\tc" }), 400],
      ["over the size cap", postGithub(t.base, JSON.stringify({ pad: "x".repeat(70_000) })), 413],
      ["another event", postGithub(t.base, JSON.stringify({ action: "opened", issue: { id: 1 } }), { event: "issues" }), 202],
      ["ping", postGithub(t.base, JSON.stringify({ zen: "Keep it logically awesome.", hook_id: 1 }), { event: "ping" }), 200],
      ["GET", fetch(`${t.base}/webhooks/github`), 405],
      ["an unknown route", fetch(`${t.base}/webhooks/bitbucket`, { method: "POST", body }), 404],
    ];
    for (const [what, res, status] of cases) expect((await res).status, what).toBe(status);
    expect(await t.lastSeq()).toBe(before);
    const failures = await t.registry.getSingleMetricAsString("ingest_verify_failures_total");
    expect(failures).toMatch(/provider="github"} [4-9]/);
  });

  it("stores a redelivery once, and the same job under a new delivery id (an environment gate) once", async () => {
    const body = workflowJob("queued", 1006);
    const delivery = deliveryId();
    const replies = [];
    for (let i = 0; i < 3; i++) replies.push(await (await postGithub(t.base, body, { delivery })).json());
    expect(replies[0]).toMatchObject({ note: "queued", type: "JobQueued" });
    expect(replies[1]).toMatchObject({ note: "already known: state only moves forward" });
    expect((await postGithub(t.base, workflowJob("waiting", 1006))).status).toBe(202);
    expect((await postGithub(t.base, body)).status).toBe(202);
    expect(await t.history("gh-1006")).toEqual(["JobQueued"]);
  });

  it("never stores two JobQueued for concurrent deliveries of one job", async () => {
    const body = workflowJob("queued", 1007);
    const rs = await Promise.all(Array.from({ length: 8 }, () => postGithub(t.base, body)));
    expect(rs.map((r) => r.status)).toEqual(Array(8).fill(202));
    expect(await t.history("gh-1007")).toEqual(["JobQueued"]);
  });

  it("stores completed before queued, and the late queued boots nothing", async () => {
    await postGithub(t.base, workflowJob("completed", 1008));
    await postGithub(t.base, workflowJob("queued", 1008));
    await postGithub(t.base, workflowJob("in_progress", 1008));
    // The completion names our runner (its in_progress came later): the start is recorded first.
    expect(await t.history("gh-1008")).toEqual(["JobStarted", "JobCompleted"]);
    // A redelivery of that completion stores nothing more.
    await postGithub(t.base, workflowJob("completed", 1008));
    expect(await t.history("gh-1008")).toEqual(["JobStarted", "JobCompleted"]);
  });

  it("records a job cancelled before it started as JobCancelled, and nothing after", async () => {
    await postGithub(t.base, workflowJob("queued", 1009));
    await postGithub(t.base, workflowJob("completed", 1009, { conclusion: "cancelled", runner_id: null, runner_name: null, status: "completed" }));
    await postGithub(t.base, workflowJob("in_progress", 1009));
    await postGithub(t.base, workflowJob("completed", 1009));
    expect(await t.history("gh-1009")).toEqual(["JobQueued", "JobCancelled"]);
  });

  it("queues a re-run (new job id, higher run_attempt); the old job's re-sent completed changes nothing", async () => {
    await postGithub(t.base, workflowJob("queued", 1010));
    await postGithub(t.base, workflowJob("completed", 1010, { conclusion: "failure" }));
    await postGithub(t.base, workflowJob("queued", 1011, { run_attempt: 2 }));
    await postGithub(t.base, workflowJob("completed", 1010, { conclusion: "failure" }));
    // Its completion named our runner (no in_progress came): the start, then the end, once.
    expect(await t.history("gh-1010")).toEqual(["JobQueued", "JobStarted", "JobCompleted"]);
    const [rerun] = await t.events("gh-1011");
    expect(rerun).toMatchObject({ type: "JobQueued", data: { source: { runAttempt: 2, runId: "10371460" } } });
  });

  it("counts jobs with no oneshot label and keeps them a few days outside the log; records refused oneshot labels once, with the reason", async () => {
    const hosted = { labels: ["ubuntu-latest"], runner_id: 3, runner_name: "GitHub Actions 3" };
    const counted = async () => (await t.metrics.foreignDeliveries.get()).values.find((v) => v.labels.provider === "github")?.value ?? 0;
    const before = await counted();
    const seqBefore = await t.lastSeq();
    const r = await postGithub(t.base, workflowJob("queued", 1012, { labels: ["ubuntu-latest"] }));
    expect(r.status).toBe(202);
    expect(await r.json()).toMatchObject({ note: "not ours: no oneshot label (counted, not stored)" });
    expect((await postGithub(t.base, workflowJob("completed", 1012, hosted))).status).toBe(202);
    // Seen first at `completed` (GitHub-hosted runner, runner_id set): still not ours.
    await postGithub(t.base, workflowJob("completed", 1013, { ...hosted, runner_id: null }));
    expect(await t.lastSeq()).toBe(seqBefore);
    expect(await counted()).toBe(before + 3);
    expect(await t.foreign("gh-1012")).toMatchObject({
      provider: "github",
      org: "acme",
      repo: "acme/widgets",
      labels: ["ubuntu-latest"],
      reason: "no oneshot label",
      action: "completed",
    });
    expect(await t.foreign("gh-1013")).toMatchObject({ reason: "no oneshot label" });
    // A job that asked for oneshot but cannot have it is the user's business: an event, for ever.
    await postGithub(t.base, workflowJob("queued", 1014, { labels: ["self-hosted", "oneshot-2cpu-4gb", "oneshot-4cpu-8gb"] }));
    await postGithub(t.base, workflowJob("queued", 1015, { labels: ["oneshot-512cpu-8gb"] }));
    const reasons = await Promise.all(
      [1012, 1013, 1014, 1015].map(async (id) => (await t.events(`gh-${id}`)).map((e) => [e.type, (e.data as { reason?: string }).reason])),
    );
    expect(reasons).toEqual([
      [],
      [],
      [["JobIgnored", "conflicting size labels: oneshot-2cpu-4gb, oneshot-4cpu-8gb"]],
      [["JobIgnored", 'label "oneshot-512cpu-8gb": 512 vCPUs is above the cap of 32']],
    ]);
    expect(await t.foreign("gh-1014")).toBeUndefined();
  });

  it("stores jobs with no oneshot label as JobIgnored with INGEST_RECORD_FOREIGN_JOBS=true", async () => {
    const u = await startIngest({ env: { INGEST_RECORD_FOREIGN_JOBS: "true" } });
    try {
      await postGithub(u.base, workflowJob("queued", 1016, { labels: ["ubuntu-latest"] }));
      expect((await u.events("gh-1016")).map((e) => [e.type, (e.data as { reason?: string }).reason])).toEqual([["JobIgnored", "no oneshot label"]]);
    } finally {
      await u.close();
    }
  });

  it("answers 413 to a body that never ends, without waiting for its end", async () => {
    const before = await t.lastSeq();
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${t.base}/webhooks/github`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "workflow_job",
          "x-github-delivery": deliveryId(),
          "x-hub-signature-256": sign("x"),
          "transfer-encoding": "chunked",
        },
      });
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on("error", reject);
      // Keep sending for as long as the server reads; stop once it has answered.
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      const pump = () => {
        if (req.destroyed) return;
        while (req.write(chunk)) if (req.destroyed) return;
        req.once("drain", pump);
      };
      req.write("{");
      pump();
    });
    expect(status).toBe(413);
    expect(await t.lastSeq()).toBe(before);
  });

  it("answers 413 at once to a declared length over the cap", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${t.base}/webhooks/github`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "workflow_job",
          "x-github-delivery": deliveryId(),
          "x-hub-signature-256": sign("x"),
          "content-length": String(25 * 1024 * 1024),
        },
      });
      req.on("response", (res) => {
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on("error", reject);
      req.write("{"); // and nothing more: the server must not wait for the rest
    });
    expect(status).toBe(413);
  });

  it("serves /healthz and /metrics on the same port", async () => {
    expect((await fetch(`${t.base}/healthz`)).status).toBe(200);
    const text = await (await fetch(`${t.base}/metrics`)).text();
    expect(text).toMatch(/ingest_requests_total\{route="\/webhooks\/github",outcome="202"\} \d+/);
    expect(text).toMatch(/ingest_store_seconds_count\{route="github"\} \d+/);
    expect(text).toMatch(/ingest_decisions_total\{provider="github",result="JobQueued"\} \d+/);
  });

  it("never writes the secret, a signature or a body into a log line", () => {
    const all = t.logLines.join("\n");
    expect(all).not.toContain(SECRET);
    expect(all).not.toContain("sha256=");
    expect(all).not.toContain("head_sha");
    expect(all).toContain("github delivery");
  });
});
