import { generateKeyPairSync } from "node:crypto";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureKv, newEventId, type EventStore, type Nats } from "@oneshot/runtime";
import { connectTest, missing, startFakeGitHub, startNats, type FakeGitHub, type TestNats } from "@oneshot/testing";
import { registerHost, queueJob, type FakeHost } from "../../test/broker-harness.js";
import { capturingLogger } from "../../test/harness.js";
import { ingestMetrics } from "../metrics.js";
import { githubJitMinter } from "../providers/github/jit-minter.js";
import { githubProvider } from "../providers/github/provider.js";
import { localProvider } from "../providers/local/provider.js";
import { providerMap } from "../providers/registry.js";
import { startRunnerBroker, type Broker } from "./runner-broker.js";
import { RUNNER_REPLIES_BUCKET, RUNNER_REPLIES_TTL_MS } from "./shared-replies.js";

// Two ingest replicas behind NATS's queue group, each with its own memory, sharing answers
// through the `ingest-runner-replies` bucket. A host whose reply was lost asks again and the
// queue group hands the retry to the OTHER replica: the runner must not be minted twice
// (GitHub answers a second generate-jitconfig for the same name with 409).
const skip = missing("nats");
const pem = (k: ReturnType<typeof generateKeyPairSync>["privateKey"] | ReturnType<typeof generateKeyPairSync>["publicKey"], type: "pkcs8" | "spki") =>
  k.export({ type, format: "pem" }).toString();

describe.skipIf(skip)("runner broker with two ingest replicas (real NATS, GitHub stand-in)", () => {
  let server: TestNats;
  const conns: { nats: Nats; store: EventStore; close: () => Promise<void> }[] = [];
  let github: FakeGitHub;
  let host: FakeHost;
  const app = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const brokers: Broker[] = [];
  const replica = async (name: string) => {
    const c = await connectTest(server.url, name);
    conns.push(c);
    const replies = await ensureKv(c.nats, RUNNER_REPLIES_BUCKET, { ttlMs: RUNNER_REPLIES_TTL_MS });
    const b = startRunnerBroker({
      nats: c.nats,
      store: c.store,
      log: capturingLogger().log,
      metrics: ingestMetrics(new Registry()),
      newId: newEventId,
      replies,
      holder: name,
      providers: providerMap([
        githubProvider({ runnerGroupId: 3, mint: githubJitMinter({ appId: "4242", privateKey: pem(app.privateKey, "pkcs8"), baseUrl: github.url }) }),
        localProvider(),
      ]),
    });
    brokers.push(b);
    await b.ready; // its subscription is on the server: a request now reaches it
    return b;
  };
  beforeAll(async () => {
    server = await startNats();
    github = await startFakeGitHub({ appId: "4242", publicKeyPem: pem(app.publicKey, "spki") });
    const c = await connectTest(server.url, "host");
    conns.push(c);
    host = await registerHost(c.nats, c.store, "metal-01");
  });
  afterAll(async () => {
    for (const b of brokers) await b.drain().catch(() => undefined);
    await github?.close();
    for (const c of conns) await c.close().catch(() => undefined);
    await server?.dispose();
  });

  const mints = () => github.calls.filter((c) => c.path.endsWith("/generate-jitconfig"));

  it("answers a retry on another replica with the same sealed runner, minted once", async () => {
    const a = await replica("ingest-a");
    await queueJob(conns[0]!.store, "gh-7001", { provider: "github", installationId: 42, ownerType: "Organization" });
    const vmId = await host.accept("gh-7001");
    const first = await host.ask("gh-7001", vmId);
    expect(first.ok, JSON.stringify(first)).toBe(true);
    // The reply is "lost"; replica A goes away (a deploy, a crash), B takes the retry.
    await a.drain();
    await replica("ingest-b");
    const retry = await host.ask("gh-7001", vmId);
    expect(retry).toEqual(first);
    expect(mints().map((c) => c.status)).toEqual([201]);
  });

  it("mints once when both replicas get the same request at the same moment", async () => {
    await replica("ingest-c");
    await queueJob(conns[0]!.store, "gh-7002", { provider: "github", installationId: 42, ownerType: "Organization" });
    const vmId = await host.accept("gh-7002");
    const before = mints().length;
    const answers = await Promise.all(Array.from({ length: 6 }, () => host.ask("gh-7002", vmId)));
    const ok = answers.filter((r) => r.ok);
    expect(ok.length, JSON.stringify(answers)).toBeGreaterThan(0);
    for (const r of ok) expect(r).toEqual(ok[0]);
    // Any that were not answered with the runner were told to ask again, never minted anew.
    for (const r of answers.filter((x) => !x.ok)) expect(r).toMatchObject({ code: "provider-error", message: expect.stringMatching(/ask again/) });
    expect(
      mints()
        .slice(before)
        .map((c) => c.status),
    ).toEqual([201]);
  });
});
