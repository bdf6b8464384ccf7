import { createHmac, generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decode, encode, subjects, type DomainEvent } from "@oneshot/proto";
import { createLogger, parseConfig, sealedBox, type EventStore, type Nats } from "@oneshot/runtime";
import { connectTest, missing, startFakeGitHub, startNats, waitFor, type FakeGitHub, type TestNats } from "@oneshot/testing";
import { githubJitMinter } from "./broker/github-app.js";
import { startRunnerBroker } from "./broker/runner-broker.js";
import { IngestEnv } from "./config.js";
import { createIngestServer } from "./http/server.js";
import { ingestMetrics } from "./metrics.js";

const skip = missing("nats");
// The reference test vector's secret (reference/github-gitlab.md).
const SECRET = "It's a Secret to Everybody";
const fixture = (name: string) => readFileSync(join(import.meta.dirname, "..", "test", "fixtures", name), "utf8");
const sign = (body: string, secret = SECRET) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
let deliveries = 0;

describe("the signature test vector", () => {
  it("matches GitHub's documented example", () => {
    expect(sign("Hello, World!")).toBe("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
  });
});

describe.skipIf(skip)("ingest over a real nats-server", () => {
  let server: TestNats;
  let nats: Nats;
  let store: EventStore;
  let http: Server;
  let base: string;
  let close: () => Promise<void>;
  const config = parseConfig(IngestEnv, {
    GITHUB_WEBHOOK_SECRET: SECRET, GITHUB_WEBHOOK_SECRET_PREVIOUS: "the-old-secret", GITLAB_WEBHOOK_TOKEN: "gl-token", ONESHOT_API_TOKEN: "api-token",
    INGEST_MAX_BODY_BYTES: "65536", INGEST_STORE_TIMEOUT_MS: "1500",
  });
  beforeAll(async () => {
    server = await startNats();
    ({ nats, store, close } = await connectTest(server.url));
    const registry = new Registry();
    http = createIngestServer({
      config, store, registry, metrics: ingestMetrics(registry), log: createLogger("ingest", { level: "silent" }), healthy: () => true,
      gitlabTags: async (projectId, jobId) => (projectId === 380 && jobId === 1977 ? ["oneshot-2cpu-4gb"] : undefined),
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    http?.close();
    await close?.();
    await server?.dispose();
  });

  const postGithub = (body: string, o: { event?: string; delivery?: string; signature?: string | null; type?: string } = {}) =>
    fetch(`${base}/webhooks/github`, {
      method: "POST",
      headers: {
        "content-type": o.type ?? "application/json",
        "x-github-event": o.event ?? "workflow_job",
        "x-github-delivery": o.delivery ?? `d-${++deliveries}`,
        ...(o.signature === null ? {} : { "x-hub-signature-256": o.signature ?? sign(body) }),
      },
      body,
    });
  const history = async (jobId: string) => (await store.readAggregate(subjects.job(jobId))).events.map((e) => e.type);
  const withId = (name: string, id: number, patch: Record<string, unknown> = {}) => {
    const p = JSON.parse(fixture(name)) as { workflow_job: Record<string, unknown> };
    Object.assign(p.workflow_job, { id, ...patch });
    return JSON.stringify(p);
  };

  it("turns every workflow_job action into the right event", async () => {
    for (const action of ["queued", "waiting", "in_progress", "completed"]) {
      const r = await postGithub(withId(`workflow_job.${action}.json`, 1001));
      expect(r.status, action).toBe(202);
    }
    expect(await history("gh-1001")).toEqual(["JobQueued", "JobStarted", "JobCompleted"]);
    const { events } = await store.readAggregate(subjects.job("gh-1001"));
    const q = events[0] as Extract<DomainEvent, { type: "JobQueued" }>;
    expect(q.data.spec).toMatchObject({ vcpus: 2, memMiB: 2048, arch: "amd64" });
    expect(events.every((e) => e.correlationId.startsWith("d-"))).toBe(true);
  });

  it("accepts a signature made with the previous secret during rotation", async () => {
    const body = withId("workflow_job.queued.json", 1002);
    expect((await postGithub(body, { signature: sign(body, "the-old-secret") })).status).toBe(202);
    expect(await history("gh-1002")).toEqual(["JobQueued"]);
  });

  it("stores nothing for forged, unsigned, malformed, oversized or wrong-type bodies", async () => {
    const body = withId("workflow_job.queued.json", 1003);
    expect((await postGithub(body, { signature: sign(body, "wrong") })).status).toBe(401);
    expect((await postGithub(body, { signature: null })).status).toBe(401);
    expect((await postGithub(body.replace("1003", "1004"), { signature: sign(body) })).status).toBe(401);
    const garbage = "{not json";
    expect((await postGithub(garbage)).status).toBe(400);
    expect((await postGithub(body, { type: "text/plain" })).status).toBe(415);
    const huge = JSON.stringify({ pad: "x".repeat(70_000) });
    expect((await postGithub(huge)).status).toBe(413);
    const noHeaders = await fetch(`${base}/webhooks/github`, { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(noHeaders.status).toBe(400);
    expect((await postGithub(JSON.stringify({ zen: "hi" }), { event: "ping" })).status).toBe(200);
    expect((await postGithub(JSON.stringify({ action: "opened" }), { event: "issues" })).status).toBe(202);
    expect(await history("gh-1003")).toEqual([]);
    expect(await history("gh-1004")).toEqual([]);
  });

  it("stores a redelivery once, and the same job under a new delivery id once", async () => {
    const body = withId("workflow_job.queued.json", 1005);
    for (let i = 0; i < 3; i++) expect((await postGithub(body, { delivery: "same-delivery" })).status).toBe(202);
    expect((await postGithub(body, { delivery: "gate-requeue" })).status).toBe(202);
    expect(await history("gh-1005")).toEqual(["JobQueued"]);
  });

  it("never stores two JobQueued for concurrent deliveries of one job", async () => {
    const body = withId("workflow_job.queued.json", 1006);
    const rs = await Promise.all(Array.from({ length: 6 }, (_, i) => postGithub(body, { delivery: `race-${i}` })));
    expect(rs.map((r) => r.status)).toEqual(Array(6).fill(202));
    expect(await history("gh-1006")).toEqual(["JobQueued"]);
  });

  it("keeps state moving forward: completed before queued, cancelled before start, re-run", async () => {
    await postGithub(withId("workflow_job.completed.json", 1007));
    await postGithub(withId("workflow_job.queued.json", 1007));
    expect(await history("gh-1007")).toEqual(["JobCompleted"]);
    await postGithub(withId("workflow_job.queued.json", 1008));
    await postGithub(withId("workflow_job.completed.json", 1008, { conclusion: "cancelled", runner_id: null, runner_name: null }));
    await postGithub(withId("workflow_job.in_progress.json", 1008));
    expect(await history("gh-1008")).toEqual(["JobQueued", "JobCancelled"]);
    // A re-run is a new job id with a higher run_attempt; the old job's re-sent `completed` changes nothing.
    await postGithub(withId("workflow_job.queued.json", 1009, { run_attempt: 2 }));
    await postGithub(withId("workflow_job.completed.json", 1007));
    expect(await history("gh-1009")).toEqual(["JobQueued"]);
    expect(await history("gh-1007")).toEqual(["JobCompleted"]);
  });

  it("records jobs that are not ours as ignored, once, with the reason", async () => {
    await postGithub(withId("workflow_job.queued.json", 1010, { labels: ["ubuntu-latest"] }));
    await postGithub(withId("workflow_job.completed.json", 1010, { labels: ["ubuntu-latest"] }));
    await postGithub(withId("workflow_job.queued.json", 1011, { labels: ["oneshot-2cpu-2gb", "oneshot-4cpu-8gb"] }));
    const { events } = await store.readAggregate(subjects.job("gh-1010"));
    expect(events.map((e) => e.type)).toEqual(["JobIgnored"]);
    expect((events[0]!.data as { reason: string }).reason).toBe("no oneshot label");
    const conflict = (await store.readAggregate(subjects.job("gh-1011"))).events[0]!;
    expect(conflict.data).toMatchObject({ reason: expect.stringMatching(/conflicting/) });
  });

  it("handles GitLab Job Hooks: token checked, boot on pending only, dedupe on Idempotency-Key", async () => {
    const body = fixture("gitlab.job.pending.json");
    const post = (b: string, token = "gl-token", key = "k-1", event = "Job Hook") =>
      fetch(`${base}/webhooks/gitlab`, { method: "POST", headers: { "content-type": "application/json", "x-gitlab-token": token, "x-gitlab-event": event, "idempotency-key": key }, body: b });
    expect((await post(body, "nope")).status).toBe(401);
    expect((await post(body)).status).toBe(202);
    expect((await post(body)).status).toBe(202);
    expect((await post(body.replace('"pending"', '"running"'), "gl-token", "k-2")).status).toBe(202);
    expect((await post(body.replace('"pending"', '"success"'), "gl-token", "k-3")).status).toBe(202);
    expect((await post("{}", "gl-token", "k-4", "Pipeline Hook")).status).toBe(202);
    expect(await history("gl-1977")).toEqual(["JobQueued", "JobStarted", "JobCompleted"]);
  });

  it("queues local jobs through the bearer-authenticated API", async () => {
    const post = (body: unknown, token = "api-token") =>
      fetch(`${base}/v1/jobs`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
    expect((await post({ argv: ["true"], vcpus: 1, memMiB: 256, timeoutSec: 60 }, "wrong")).status).toBe(401);
    expect((await post({ vcpus: 1, memMiB: 256, timeoutSec: 60 })).status).toBe(400);
    const r = await post({ argv: ["sh", "-c", "echo 'hi there'; exit 3"], vcpus: 1, memMiB: 256, timeoutSec: 60, arch: "arm64" });
    expect(r.status).toBe(202);
    const { jobId } = (await r.json()) as { jobId: string };
    const { events } = await store.readAggregate(subjects.job(jobId));
    expect(events[0]).toMatchObject({ type: "JobQueued", data: { spec: { arch: "arm64", vcpus: 1 }, script: `exec sh -c 'echo '\\''hi there'\\''; exit 3'` } });
  });

  it("answers 503 while NATS is down, then stores the same delivery once after it is back", async () => {
    const body = withId("workflow_job.queued.json", 1012);
    await server.stop();
    const down = await postGithub(body, { delivery: "during-outage" });
    expect(down.status).toBe(503);
    await server.restart();
    await waitFor("ingest to store again", async () => (await postGithub(body, { delivery: "during-outage" })).status === 202, 20_000, 250);
    await postGithub(body, { delivery: "during-outage" });
    expect(await history("gh-1012")).toEqual(["JobQueued"]);
  });
});

describe.skipIf(skip)("runner-config broker (real NATS, GitHub API stand-in)", () => {
  let server: TestNats;
  let nats: Nats;
  let store: EventStore;
  let close: () => Promise<void>;
  let github: FakeGitHub;
  const app = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const hostKey = generateKeyPairSync("x25519");
  const publicKey = sealedBox.rawPublicKey(hostKey.publicKey);
  const spec = { arch: "amd64", vcpus: 2, memMiB: 2048, diskGiB: 10, image: "minimal", timeoutSec: 600 } as const;
  const request = async (hostId: string, jobId: string, vmId: string, key = publicKey) => {
    const bytes = encode({ type: "RunnerConfigRequest", data: { hostId, jobId, vmId, publicKey: key } }, { id: "r1", occurredAt: new Date().toISOString(), correlationId: jobId, causationId: null });
    const m = await nats.nc.request(subjects.runnerConfig(hostId), bytes, { timeout: 5_000 });
    return decode(m.data).data as { result: { ok: boolean; code?: string; sealed?: Parameters<typeof sealedBox.open>[0]; runnerName?: string } };
  };
  beforeAll(async () => {
    server = await startNats();
    ({ nats, store, close } = await connectTest(server.url));
    github = await startFakeGitHub({ appId: "123", publicKeyPem: app.publicKey.export({ type: "spki", format: "pem" }).toString() });
    const registry = new Registry();
    startRunnerBroker({
      nats, store, log: createLogger("ingest", { level: "silent" }), metrics: ingestMetrics(registry), runnerGroupId: 1,
      mintGithub: githubJitMinter({ appId: "123", privateKey: app.privateKey.export({ type: "pkcs8", format: "pem" }).toString(), baseUrl: github.url }),
    });
    const c = { correlationId: "broker" };
    await store.append({ type: "HostRegistered", data: { hostId: "metal-01", arch: "amd64", capacity: { vcpus: 8, memMiB: 8192, diskGiB: 100 }, labels: [], vmm: "qemu", accel: "tcg", emulated: false, images: ["minimal"], publicKey, version: "t" } }, c);
    for (const [jobId, vmId] of [["gh-2001", "vm2001"], ["gh-2002", "vm2002"]] as const) {
      await store.append({ type: "JobQueued", data: { jobId, spec, source: { provider: "github", repo: "acme/widgets", org: "acme", providerJobId: jobId.slice(3), labels: ["self-hosted", "oneshot-2cpu-2gb"], installationId: 42, ownerType: "Organization" } } }, c);
      await store.append({ type: "VmBootRequested", data: { hostId: "metal-01", vmId, jobId, tap: null, disks: [] } }, c);
    }
  });
  afterAll(async () => {
    await github?.close();
    await close?.();
    await server?.dispose();
  });

  it("mints a JIT config as the App and seals it to the requesting host only", async () => {
    const r = await request("metal-01", "gh-2001", "vm2001");
    expect(r.result, JSON.stringify({ result: r.result, calls: github.calls })).toMatchObject({ ok: true });
    const opened = sealedBox.open(r.result.sealed!, hostKey.privateKey);
    expect(opened).toBe(github.jitConfigs.get("oneshot-metal-01-vm2001"));
    expect(() => sealedBox.open(r.result.sealed!, generateKeyPairSync("x25519").privateKey)).toThrow();
    const jit = github.calls.find((c) => c.path.endsWith("generate-jitconfig"))!;
    expect(jit).toMatchObject({ path: "/orgs/acme/actions/runners/generate-jitconfig", status: 201, body: { name: "oneshot-metal-01-vm2001", runner_group_id: 1, labels: ["self-hosted", "oneshot-2cpu-2gb"] } });
    // The secret is nowhere in the event log.
    const all: string[] = [];
    await store.replay("evt.>", (e) => void all.push(JSON.stringify(e)));
    expect(all.join("\n")).not.toContain(opened);
  });

  it("refuses a host that has no VM booting for the job, or the wrong key", async () => {
    expect((await request("metal-01", "gh-2001", "nosuchvm")).result).toMatchObject({ ok: false, code: "wrong-host" });
    expect((await request("metal-01", "gh-2002", "vm2002", sealedBox.rawPublicKey(generateKeyPairSync("x25519").publicKey))).result).toMatchObject({ ok: false, code: "wrong-host" });
  });

  it("turns GitHub's 409, 422 and rate limits into typed errors", async () => {
    expect((await request("metal-01", "gh-2001", "vm2001")).result).toMatchObject({ ok: false, code: "duplicate-name" });
    github.failNext(422);
    expect((await request("metal-01", "gh-2002", "vm2002")).result).toMatchObject({ ok: false, code: "invalid" });
    github.failNext(429);
    expect((await request("metal-01", "gh-2002", "vm2002")).result).toMatchObject({ ok: false, code: "rate-limited", retryAfterSec: 30 });
    expect((await request("metal-01", "gh-2002", "vm2002")).result.ok).toBe(true);
  });
});

describe.skipIf(skip)("GitLab runner broker and cleanup (real NATS, GitLab API stand-in)", () => {
  it("creates a one-job runner sealed to the host, and deletes it when the job ends", async () => {
    const { startFakeGitLab } = await import("@oneshot/testing");
    const { ensureKv } = await import("@oneshot/runtime");
    const { gitlabApi } = await import("./broker/gitlab-api.js");
    const { startGitlabCleanup } = await import("./broker/gitlab-cleanup.js");
    const server = await startNats();
    const { nats, store, close } = await connectTest(server.url);
    const gitlab = await startFakeGitLab({ token: "glpat-test" });
    const log = createLogger("ingest", { level: "silent" });
    try {
      const api = gitlabApi({ baseUrl: gitlab.url, token: "glpat-test" });
      gitlab.setJobTags(380, 1977, ["oneshot-2cpu-4gb"]);
      expect(await api.jobTags(380, 1977)).toEqual(["oneshot-2cpu-4gb"]);
      await expect(gitlabApi({ baseUrl: gitlab.url, token: "wrong" }).jobTags(380, 1977)).rejects.toThrow(/401/);
      const kv = await ensureKv(nats, "ingest-gitlab-runners");
      const registry = new Registry();
      startRunnerBroker({
        nats, store, log, metrics: ingestMetrics(registry), runnerGroupId: 1,
        gitlab: { url: gitlab.url, createRunner: api.createRunner, remember: async (jobId, id) => void (await kv.put(jobId, String(id))) },
      });
      const cleanup = await startGitlabCleanup({ nats, kv, log, deleteRunner: api.deleteRunner });
      const hostKey = generateKeyPairSync("x25519");
      const publicKey = sealedBox.rawPublicKey(hostKey.publicKey);
      const c = { correlationId: "gl" };
      await store.append({ type: "HostRegistered", data: { hostId: "metal-02", arch: "amd64", capacity: { vcpus: 8, memMiB: 8192, diskGiB: 100 }, labels: [], vmm: "qemu", accel: "tcg", emulated: false, images: ["minimal"], publicKey, version: "t" } }, c);
      await store.append({ type: "JobQueued", data: { jobId: "gl-1977", spec: { arch: "amd64", vcpus: 2, memMiB: 4096, diskGiB: 10, image: "minimal", timeoutSec: 600 }, source: { provider: "gitlab", repo: "acme/widgets", org: "acme", providerJobId: "1977", labels: ["oneshot-2cpu-4gb"], projectId: 380 } } }, c);
      await store.append({ type: "VmBootRequested", data: { hostId: "metal-02", vmId: "glvm1", jobId: "gl-1977", tap: null, disks: [] } }, c);
      const bytes = encode({ type: "RunnerConfigRequest", data: { hostId: "metal-02", jobId: "gl-1977", vmId: "glvm1", publicKey } }, { id: "r", occurredAt: new Date().toISOString(), correlationId: "gl", causationId: null });
      const reply = decode((await nats.nc.request(subjects.runnerConfig("metal-02"), bytes, { timeout: 5_000 })).data).data as { result: { ok: boolean; kind?: string; sealed?: Parameters<typeof sealedBox.open>[0] } };
      expect(reply.result).toMatchObject({ ok: true, kind: "gitlab" });
      const opened = JSON.parse(sealedBox.open(reply.result.sealed!, hostKey.privateKey)) as { url: string; token: string; runnerId: number };
      expect(opened.token).toMatch(/^glrt-/);
      expect(gitlab.runners.get(opened.runnerId)).toMatchObject({ projectId: 380, tags: ["oneshot-2cpu-4gb"] });
      await store.append({ type: "JobCompleted", data: { jobId: "gl-1977", conclusion: "success", exitCode: null, reportedBy: "provider" } }, c);
      await waitFor("the runner to be deleted", () => !gitlab.runners.has(opened.runnerId), 10_000);
      expect(gitlab.calls.some((x) => x.method === "DELETE" && x.status === 204)).toBe(true);
      await cleanup.stop();
    } finally {
      await gitlab.close();
      await close();
      await server.dispose();
    }
  });
});
