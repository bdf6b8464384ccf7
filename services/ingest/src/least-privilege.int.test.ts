import { mkdtempSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventStore, connectNats, createLogger, ensureKv, newEventId, parseConfig, type Nats } from "@oneshot/runtime";
import { freePort, missing, startFakeGitLab, startNats, waitFor, type FakeGitLab, type TestNats } from "@oneshot/testing";
// The one place NATS permissions are declared (what `oneshot admin nats-config` writes).
import { envVarFor, natsConfig } from "../../../packages/cli/src/admin/nats-config.js";
import { provisionAll } from "../../../packages/cli/src/admin/provision.js";
import { registerHost, type FakeHost } from "../test/broker-harness.js";
import { GITLAB_TOKEN, jobHook, postGitlab } from "../test/harness.js";
import { gitlabApi } from "./providers/gitlab/api.js";
import { gitlabProvider } from "./providers/gitlab/provider.js";
import { localProvider } from "./providers/local/provider.js";
import { providerMap } from "./providers/registry.js";
import { GITLAB_RUNNERS_BUCKET, kvRunnerRegistry, startGitlabCleanup } from "./providers/gitlab/runners.js";
import { startRunnerBroker, type Broker } from "./broker/runner-broker.js";
import { IngestEnv } from "./config.js";
import { createIngestServer } from "./http/server.js";
import { ingestMetrics } from "./metrics.js";

const skip = missing("nats");
const log = createLogger("ingest", { level: "silent" });

// ingest runs as its own least-privilege NATS user, hostd as `hostd-metal-01`: everything ingest
// does (append job events, read job/host/VM subjects, answer the RPC, keep runner ids in KV,
// run its cleanup consumer) must be allowed, under the real generated permissions.
describe.skipIf(skip)("ingest under its own NATS identity (generated permissions, real nats-server)", () => {
  let server: TestNats;
  let ingest: Nats;
  let hostd: Nats;
  let scheduler: Nats;
  let gitlab: FakeGitLab;
  let http: Server;
  let base: string;
  let broker: Broker;
  let cleanup: { stop: () => Promise<void> };
  let host: FakeHost;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "oneshot-ingest-perm-"));
    const port = await freePort();
    for (const u of ["admin", "ingest", "scheduler", "janitor", "hostd-metal-01", "audit"]) process.env[envVarFor(u)] = `pw-${u}`;
    const conf = join(dir, "nats.conf");
    writeFileSync(conf, natsConfig({ hosts: ["metal-01"], port, listen: "127.0.0.1", storeDir: join(dir, "js") }));
    server = await startNats({ port, config: conf });
    const admin = await connectNats({ url: server.url, name: "admin", user: "admin", password: "pw-admin" }, log);
    await provisionAll(admin, ["metal-01"], log);
    await admin.nc.close();

    ingest = await connectNats({ url: server.url, name: "ingest", user: "ingest", password: "pw-ingest" }, log);
    hostd = await connectNats({ url: server.url, name: "hostd", user: "hostd-metal-01", password: "pw-hostd-metal-01" }, log);
    const store = new EventStore(ingest.js, ingest.jsm);
    gitlab = await startFakeGitLab({ token: "glpat-api" });
    const api = gitlabApi({ baseUrl: gitlab.url, token: "glpat-api" });
    const registry = kvRunnerRegistry(await ensureKv(ingest, GITLAB_RUNNERS_BUCKET));
    const metrics = ingestMetrics(new Registry());
    const providers = providerMap([
      gitlabProvider({
        url: gitlab.url,
        jobTags: api.jobTags,
        runners: { createRunner: api.createRunner, deleteRunner: api.deleteRunner, remember: registry.remember },
      }),
      localProvider(),
    ]);
    broker = startRunnerBroker({ nats: ingest, store, log, metrics, providers, newId: newEventId });
    cleanup = await startGitlabCleanup({ nats: ingest, registry, log, deleteRunner: api.deleteRunner });
    http = createIngestServer({
      config: parseConfig(IngestEnv, { GITLAB_WEBHOOK_TOKEN: GITLAB_TOKEN }),
      store,
      log,
      metrics,
      registry: new Registry(),
      newId: newEventId,
      healthy: () => true,
      providers,
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
    scheduler = await connectNats({ url: server.url, name: "scheduler", user: "scheduler", password: "pw-scheduler" }, log);
    host = await registerHost(hostd, new EventStore(hostd.js, hostd.jsm), "metal-01", new EventStore(scheduler.js, scheduler.jsm));
  });
  afterAll(async () => {
    http?.close();
    await cleanup?.stop();
    await broker?.drain();
    await gitlab?.close();
    await ingest?.nc.close();
    await hostd?.nc.close();
    await scheduler?.nc.close();
    await server?.dispose();
  });

  it("stores a GitLab job, answers hostd's runner request, and deletes the runner when the job ends", async () => {
    gitlab.setJobTags(380, 6001, ["oneshot"]);
    expect((await postGitlab(base, jobHook("pending", 6001))).status).toBe(202);
    const vmId = await host.accept("gl-6001");
    const reply = await host.ask("gl-6001", vmId);
    expect(reply).toMatchObject({ ok: true, provider: "gitlab" });
    expect(gitlab.runners.size).toBe(1);
    expect((await postGitlab(base, jobHook("canceled", 6001, { runner: { id: 1 } }))).status).toBe(202);
    await waitFor("the runner to be deleted", () => gitlab.runners.size === 0, 15_000);
  });
});
