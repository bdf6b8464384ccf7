import { generateKeyPairSync } from "node:crypto";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunnerLaunch } from "@oneshot/proto";
import { newEventId, sealedBox, type EventStore, type Nats } from "@oneshot/runtime";
import { connectTest, missing, startFakeGitHub, startNats, type FakeGitHub, type TestNats } from "@oneshot/testing";
import { registerHost, queueJob, type FakeHost } from "../../../test/broker-harness.js";
import { capturingLogger } from "../../../test/harness.js";
import { ingestMetrics } from "../../metrics.js";
import { localProvider } from "../local/provider.js";
import { providerMap } from "../registry.js";
import { githubJitMinter } from "./jit-minter.js";
import { GITHUB_RUNNER_RUN } from "./launch.js";
import { githubProvider } from "./provider.js";
import { startRunnerBroker, type Broker } from "../../broker/runner-broker.js";

const skip = missing("nats");
const pem = (k: ReturnType<typeof generateKeyPairSync>["privateKey"] | ReturnType<typeof generateKeyPairSync>["publicKey"], type: "pkcs8" | "spki") =>
  k.export({ type, format: "pem" }).toString();

describe.skipIf(skip)("runner-config broker for GitHub jobs (real NATS, GitHub API stand-in checking the App JWT)", () => {
  let server: TestNats;
  let nats: Nats;
  let store: EventStore;
  let close: () => Promise<void>;
  let github: FakeGitHub;
  let host: FakeHost;
  let broker: Broker;
  const app = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const logs = capturingLogger();
  let registry: Registry;
  const start = (o: { key?: string; mint?: boolean } = {}) => {
    registry = new Registry();
    const mint = o.mint === false ? {} : { mint: githubJitMinter({ appId: "4242", privateKey: o.key ?? pem(app.privateKey, "pkcs8"), baseUrl: github.url }) };
    return startRunnerBroker({
      nats,
      store,
      log: logs.log,
      metrics: ingestMetrics(registry),
      newId: newEventId,
      providers: providerMap([githubProvider({ runnerGroupId: 3, ...mint }), localProvider()]),
    });
  };
  beforeAll(async () => {
    server = await startNats();
    ({ nats, store, close } = await connectTest(server.url));
    github = await startFakeGitHub({ appId: "4242", publicKeyPem: pem(app.publicKey, "spki") });
    host = await registerHost(nats, store, "metal-01");
    broker = start();
  });
  afterAll(async () => {
    await broker?.drain();
    await github?.close();
    await close?.();
    await server?.dispose();
  });

  it("mints an org JIT config as the App and seals its launch (the config in env, never argv) to the asking host only", async () => {
    await queueJob(store, "gh-2001", { provider: "github", installationId: 42, ownerType: "Organization" });
    const vmId = await host.accept("gh-2001");
    const r = await host.ask("gh-2001", vmId);
    expect(r, JSON.stringify(github.calls)).toMatchObject({ ok: true, provider: "github", runnerName: `oneshot-metal-01-${vmId}` });
    if (!r.ok) return;
    const launch = RunnerLaunch.parse(JSON.parse(host.open(r.sealed)));
    const jit = github.jitConfigs.get(`oneshot-metal-01-${vmId}`)!;
    expect(launch).toEqual({ argv: [GITHUB_RUNNER_RUN], env: { ACTIONS_RUNNER_INPUT_JITCONFIG: jit }, user: "runner" });
    expect(launch.argv.join(" ")).not.toContain(jit);
    expect(() => sealedBox.open(r.sealed, generateKeyPairSync("x25519").privateKey)).toThrow(/cannot open/);
    expect(github.calls.map((c) => [c.method, c.path, c.status])).toEqual([
      ["POST", "/app/installations/42/access_tokens", 201],
      ["POST", "/orgs/acme/actions/runners/generate-jitconfig", 201],
    ]);
    expect(github.calls[1]!.body).toEqual({
      name: `oneshot-metal-01-${vmId}`,
      runner_group_id: 3,
      labels: ["self-hosted", "oneshot-2cpu-2gb"],
      work_folder: "_work",
    });
    // The metrics label is the job's source.provider, not a job-id prefix.
    expect(await registry.metrics()).toMatch(/ingest_runner_config_requests_total\{[^}]*provider="github"[^}]*outcome="ok"[^}]*\} 1/);
  });

  it("mints a repo-level runner for a user-owned repo, reusing the cached installation token", async () => {
    await queueJob(store, "gh-2002", { provider: "github", installationId: 42, ownerType: "User", repo: "alice/dots", org: "alice" });
    const vmId = await host.accept("gh-2002");
    expect(await host.ask("gh-2002", vmId)).toMatchObject({ ok: true });
    expect(github.calls.at(-1)).toMatchObject({ path: "/repos/alice/dots/actions/runners/generate-jitconfig", status: 201 });
    expect(github.tokensIssued()).toBe(1);
  });

  it("answers a repeated request (a lost reply) with the same sealed config, minting once", async () => {
    await queueJob(store, "gh-2003", { provider: "github", installationId: 42 });
    const vmId = await host.accept("gh-2003");
    const [a, b] = await Promise.all([host.ask("gh-2003", vmId), host.ask("gh-2003", vmId)]);
    const c = await host.ask("gh-2003", vmId);
    expect(a.ok && b.ok && c.ok).toBe(true);
    expect([b, c]).toEqual([a, a]);
    // …but only to that host: the same request on another host's subject is checked and refused.
    expect(await host.ask("gh-2003", vmId, { subjectHost: "metal-09" })).toMatchObject({ ok: false, code: "wrong-host" });
    expect(github.calls.filter((x) => x.path.endsWith("generate-jitconfig") && (x.body as { name: string }).name.endsWith(vmId))).toHaveLength(1);
  });

  it("turns GitHub's 409, 422 and rate limits into typed errors, with retry-after", async () => {
    await queueJob(store, "gh-2004", { provider: "github", installationId: 42 });
    const vmId = await host.accept("gh-2004");
    github.failNext(422);
    expect(await host.ask("gh-2004", vmId)).toMatchObject({ ok: false, code: "invalid" });
    github.failNext(429);
    expect(await host.ask("gh-2004", vmId)).toMatchObject({ ok: false, code: "rate-limited", retryAfterSec: 30 });
    github.failNext(403, 1, { "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(Math.floor(Date.now() / 1000) + 90) });
    const limited = await host.ask("gh-2004", vmId);
    expect(limited).toMatchObject({ ok: false, code: "rate-limited" });
    expect(!limited.ok && limited.retryAfterSec).toBeGreaterThan(80);
    github.failNext(502);
    expect(await host.ask("gh-2004", vmId)).toMatchObject({ ok: false, code: "provider-error" });
    expect(await host.ask("gh-2004", vmId)).toMatchObject({ ok: true });
    // A second ingest (or one restarted: nothing in memory) asked for the same VM: GitHub says 409.
    const other = start();
    try {
      await broker.drain();
      expect(await host.ask("gh-2004", vmId)).toMatchObject({ ok: false, code: "duplicate-name" });
    } finally {
      broker = other;
    }
  });

  it("refuses requests that do not match the log, with a typed code, minting nothing", async () => {
    const minted = github.calls.length;
    await queueJob(store, "gh-2005", { provider: "github", installationId: 42 });
    const vmId = await host.accept("gh-2005");
    const stranger = generateKeyPairSync("x25519").publicKey.export({ format: "jwk" }) as { x: string };
    const other = await registerHost(nats, store, "metal-02");
    const cases: [string, Promise<unknown>, string][] = [
      ["no VM accepted for the job", host.ask("gh-2005", "nosuchvm00"), "wrong-host"],
      ["another host's VM", other.ask("gh-2005", vmId), "wrong-host"],
      ["a key the host never registered", host.ask("gh-2005", vmId, { publicKey: Buffer.from(stranger.x, "base64url").toString("base64") }), "wrong-host"],
      ["sent on another host's subject", host.ask("gh-2005", vmId, { subjectHost: "metal-02" }), "wrong-host"],
      ["not a request at all", host.ask("gh-2005", vmId, { raw: new TextEncoder().encode("hello") }), "invalid"],
    ];
    for (const [what, reply, code] of cases) expect(await reply, what).toMatchObject({ ok: false, code });
    // A host holding only its own credential accepts, on its own VM subject, a VM the scheduler
    // placed on another host (it can write that much): still no runner for it.
    await queueJob(store, "gh-2006", { provider: "github", installationId: 42 });
    const placedOnOne = await host.accept("gh-2006");
    await store.append(
      { type: "VmBootRequested", data: { hostId: "metal-02", vmId: placedOnOne, jobId: "gh-2006", tap: null, disks: [] } },
      { correlationId: "attacker" },
    );
    expect(await other.ask("gh-2006", placedOnOne)).toMatchObject({
      ok: false,
      code: "wrong-host",
      message: expect.stringMatching(/scheduler placed no job gh-2006 on VM .* of host metal-02/),
    });
    // The job was never queued / has ended / is local.
    const ghostVm = await host.accept("gh-2999");
    expect(await host.ask("gh-2999", ghostVm)).toMatchObject({ ok: false, code: "not-found" });
    await store.append({ type: "JobCancelled", data: { jobId: "gh-2005", reason: "cancelled before it started" } }, { correlationId: "x" });
    expect(await host.ask("gh-2005", vmId)).toMatchObject({ ok: false, code: "not-runnable" });
    await queueJob(store, "loc-0001", { provider: "local" });
    expect(await host.ask("loc-0001", await host.accept("loc-0001"))).toMatchObject({ ok: false, code: "invalid" });
    expect(github.calls.length).toBe(minted);
  });

  it("says not-configured without an App, or when GitHub refuses the App's JWT", async () => {
    await queueJob(store, "gh-2006", { provider: "github", installationId: 42 });
    const vmId = await host.accept("gh-2006");
    const none = start({ mint: false });
    await broker.drain();
    expect(await host.ask("gh-2006", vmId)).toMatchObject({ ok: false, code: "not-configured" });
    await none.drain();
    // Signed with a key that is not the App's: the stand-in checks the RS256 signature and says 401.
    broker = start({ key: pem(generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey, "pkcs8") });
    const r = await host.ask("gh-2006", vmId);
    expect(r).toMatchObject({ ok: false, code: "not-configured", message: expect.stringMatching(/credentials \(401\)/) });
    expect(github.calls.at(-1)).toMatchObject({ path: "/app/installations/42/access_tokens", status: 401 });
    await broker.drain();
    broker = start();
  });

  it("never lets a JIT config, a token or the App key into the log, a log line or an error", async () => {
    const secrets = [...github.jitConfigs.values()];
    expect(secrets.length).toBeGreaterThan(2);
    const log: string[] = [];
    await store.replay("evt.>", (e) => void log.push(JSON.stringify(e)));
    const everything = [...log, ...logs.lines].join("\n");
    for (const s of secrets) expect(everything).not.toContain(s);
    expect(everything).not.toMatch(/ghs_[0-9a-f]{20}/);
    expect(everything).not.toContain("PRIVATE KEY");
    expect(logs.lines.join("")).toContain("runner config sealed to the host");
  });
});
