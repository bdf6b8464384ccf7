import { generateKeyPairSync } from "node:crypto";
import { createServer, type Server } from "node:http";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { subjects, type DomainEvent } from "@oneshot/proto";
import { natsAvailability, startFakeGitHub, waitFor, type FakeGitHub } from "@oneshot/testing";
import { SECRET, capturingLogger, startIngest, type IngestUnderTest } from "../../test/harness.js";
import { githubReconcileClient } from "../providers/github/reconcile-api-client.js";
import { apiCaller } from "./api-call.js";
import { CallBudget } from "./budget.js";
import { startReconciler, type Reconciler } from "./loop.js";
import { reconcileMetrics, type ReconcileMetrics } from "./metrics.js";

const nats = natsAvailability();
const APP_ID = "424242";
const INSTALLATION = 42;
const LABELS = ["self-hosted", "oneshot-2cpu-2gb"];

describe.skipIf(nats.kind === "none")(
  `reconciler against a real nats-server and the GitHub stand-in${nats.kind === "none" ? ` (skipped: ${nats.reason})` : ""}`,
  () => {
    let t: IngestUnderTest;
    let gh: FakeGitHub;
    let failing: Server;
    let failingUrl: string;
    let metrics: ReconcileMetrics;
    let registry: Registry;
    let rec: Reconciler;
    let log: ReturnType<typeof capturingLogger>;
    let github: ReturnType<typeof githubReconcileClient>;
    const keys = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      publicKeyEncoding: { type: "spki", format: "pem" },
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
    });

    const start = async (o: { intervalMs?: number; staleAfterMs?: number } = {}) => {
      registry = new Registry();
      metrics = reconcileMetrics(registry);
      log = capturingLogger();
      const call = apiCaller({
        budget: new CallBudget({ requestsPerHour: 4000, pointsPerMinute: 600 }),
        metrics,
        maxConcurrency: 4,
        maxWaitMs: 5_000,
        timeoutMs: 5_000,
      });
      github = githubReconcileClient({ appId: APP_ID, privateKey: keys.privateKey, baseUrl: gh.url, call });
      rec = await startReconciler({
        store: t.store,
        log: log.log,
        metrics,
        apis: { github },
        deliveries: github.deliveries,
        isLeader: () => true,
        clock: Date.now,
        onFatal: (e) => {
          throw e;
        },
        options: {
          intervalMs: o.intervalMs ?? 3600_000,
          staleAfterMs: o.staleAfterMs ?? 3600_000,
          maxChecksPerTick: 100,
          deliveriesLookbackMs: 3600_000,
          deliveriesMaxPages: 10,
          idleDelayMs: 3600_000,
        },
      });
    };
    const settle = async () => {
      await gh.settleDeliveries();
      await rec.reached(await t.store.lastStreamSeq());
    };
    const hostEvents = async (hostId: string) => (await t.store.readAggregate(subjects.host(hostId))).events;
    const metric = async (name: string) => (await registry.getSingleMetric(name)!.get()).values;
    const runnerFor = (hostId: string, vmId: string, labels: string[]) =>
      gh.model.registerRunner({ name: `oneshot-${hostId}-${vmId}`, labels, scope: { kind: "org", org: "acme" }, runnerGroupId: 1, token: `tok-${vmId}` });
    const idle = (hostId: string, vmId: string, bootedForJobId: string, candidateJobIds: string[]): DomainEvent => ({
      type: "VmIdle",
      data: {
        hostId,
        vmId,
        bootedForJobId,
        runnerName: `oneshot-${hostId}-${vmId}`,
        reason: `booted for ${bootedForJobId}, which ran elsewhere`,
        candidateJobIds,
      },
    });

    beforeAll(async () => {
      t = await startIngest();
      gh = await startFakeGitHub({ appId: APP_ID, publicKeyPem: keys.publicKey, webhook: { url: `${t.base}/webhooks/github`, secret: SECRET } });
      failing = createServer((_q, r) => void r.writeHead(503).end("down"));
      await new Promise<void>((r) => failing.listen(0, "127.0.0.1", r));
      failingUrl = `http://127.0.0.1:${(failing.address() as { port: number }).port}/webhooks/github`;
    });
    afterAll(async () => {
      await rec?.stop().catch(() => undefined);
      await gh?.close();
      await new Promise((r) => failing?.close(r));
      await t?.close();
    });

    it("a delivery answered 503 is found in the deliveries list and redelivered exactly once; ingest stores its JobQueued; measured with a 1 s interval", async () => {
      await start({ intervalMs: 1000 });
      gh.setWebhook(failingUrl, SECRET);
      gh.queueJob({ id: 5001, repo: "acme/widgets", labels: LABELS, installationId: INSTALLATION });
      await gh.settleDeliveries();
      const lostAt = Date.now();
      expect(gh.deliveries().map((d) => d.status_code)).toEqual([503]);
      gh.setWebhook(`${t.base}/webhooks/github`, SECRET);
      await waitFor("the job queued through the redelivery", async () => (await t.history("gh-5001")).includes("JobQueued"), 10_000);
      const recoveredMs = Date.now() - lostAt;
      console.log(`lost delivery recovered in ${recoveredMs} ms with RECONCILE_INTERVAL=1s`);
      await rec.tick();
      await rec.tick();
      const redelivered = (await t.store.readAggregate(subjects.provider("github"))).events;
      expect(redelivered.map((e) => e.type)).toEqual(["DeliveryRedelivered"]);
      expect(redelivered[0]!.data).toMatchObject({
        provider: "github",
        guid: gh.deliveries()[0]!.guid,
        statusCode: 503,
        event: "workflow_job",
        action: "queued",
      });
      expect(gh.counters().byRoute["POST /app/hook/deliveries/:delivery_id/attempts"]).toBe(1);
      const rows = gh.deliveries();
      expect(rows).toHaveLength(2);
      expect(rows[1]).toMatchObject({ guid: rows[0]!.guid, redelivery: true });
      expect(rows[1]!.status_code).toBeGreaterThanOrEqual(200);
      expect(rows[1]!.status_code).toBeLessThan(300);
      expect(await metric("reconcile_redeliveries_total")).toMatchObject([{ value: 1 }]);
      expect(recoveredMs).toBeLessThan(5_000);
      await rec.stop();
    });

    it("VmIdle whose runner took a candidate (its in_progress lost) → JobStarted(reconcile) naming the VM, no VmRetired", async () => {
      await start();
      gh.controlDeliveries({ action: "in_progress", jobId: 5102 }, { kind: "drop" });
      // Labels of their own per test: a runner here must be offered only the job meant for it.
      gh.queueJob({ id: 5101, repo: "acme/widgets", labels: ["self-hosted", "oneshot-16cpu-16gb"], installationId: INSTALLATION });
      gh.queueJob({ id: 5102, repo: "acme/widgets", labels: ["self-hosted", "oneshot-2cpu-4gb"], installationId: INSTALLATION });
      const r = runnerFor("h1", "vm1", ["self-hosted", "oneshot-2cpu-4gb"]);
      gh.model.connect(r.id);
      expect(gh.model.acquire(r.id, 5102).ok).toBe(true);
      await settle();
      expect(await t.history("gh-5102")).toEqual(["JobQueued"]);
      await t.store.append(idle("h1", "vm1", "gh-5101", ["gh-5102"]), { correlationId: "sched-1", msgId: "idle:h1:vm1" });
      await settle();
      await rec.tick();
      await settle();
      const ev = await t.events("gh-5102");
      expect(ev.map((e) => e.type)).toEqual(["JobQueued", "JobStarted"]);
      expect(ev[1]!.data).toMatchObject({
        reportedBy: "reconcile",
        vmId: "vm1",
        hostId: "h1",
        runnerName: "oneshot-h1-vm1",
        reason: "GET /repos/acme/widgets/actions/jobs/5102: in_progress on oneshot-h1-vm1",
      });
      expect(ev[1]!.correlationId).toBe(ev[0]!.correlationId);
      expect((await hostEvents("h1")).map((e) => e.type)).not.toContain("VmRetired");
      expect(gh.runner("oneshot-h1-vm1")!.removed).toBe(false);
      await rec.tick();
      expect((await t.events("gh-5102")).length).toBe(2);
      await rec.stop();
    });

    it("VmIdle whose runner is idle → runner DELETEd → VmRetired with the reason; busy (422) → no VmRetired", async () => {
      await start();
      gh.queueJob({ id: 5201, repo: "acme/widgets", labels: ["self-hosted", "oneshot-4cpu-8gb"], installationId: INSTALLATION });
      const idleRunner = runnerFor("h2", "vm2", ["self-hosted", "oneshot-1cpu-1gb"]);
      // A busy runner: it runs a job whose every delivery is lost, redeliveries too (so nothing in the log names it).
      gh.controlDeliveries({ jobId: 5202 }, { kind: "drop" }, 100);
      gh.queueJob({ id: 5202, repo: "acme/widgets", labels: ["self-hosted", "oneshot-8cpu-8gb"], installationId: INSTALLATION });
      const busy = gh.model.registerRunner({
        name: "oneshot-h2-vm3",
        labels: ["self-hosted", "oneshot-8cpu-8gb"],
        scope: { kind: "org", org: "acme" },
        runnerGroupId: 1,
        token: "t3",
      });
      gh.model.connect(busy.id);
      expect(gh.model.acquire(busy.id, 5202).ok).toBe(true);
      await settle();
      await t.store.append(idle("h2", "vm2", "gh-5201", []), { correlationId: "sched-2", msgId: "idle:h2:vm2" });
      await t.store.append(idle("h2", "vm3", "gh-5201", []), { correlationId: "sched-3", msgId: "idle:h2:vm3" });
      await settle();
      await rec.tick();
      await settle();
      const host = await hostEvents("h2");
      const retired = host.filter((e) => e.type === "VmRetired");
      expect(retired.map((e) => (e.data as { vmId: string }).vmId)).toEqual(["vm2"]);
      expect(retired[0]!.correlationId).toBe("sched-2");
      expect((retired[0]!.data as { reason: string }).reason).toMatch(/^DELETE \/orgs\/acme\/actions\/runners\/\d+: 204 .*idle because: booted for gh-5201/);
      expect(gh.runner(idleRunner.id)!.removed).toBe(true);
      expect(gh.runner(busy.id)!.removed).toBe(false);
      expect(await metric("reconcile_decisions_total")).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ labels: { kind: "busy" }, value: 1 }),
          expect.objectContaining({ labels: { kind: "retired" }, value: 1 }),
        ]),
      );
      expect(log.lines.join("\n")).toMatch(/still running a job/);
      // Busy again on the next tick: still no VmRetired, and the retired VM is not asked about again.
      const deletes = gh.counters().byRoute["DELETE /:scope/actions/runners/:runner_id"];
      await rec.tick();
      expect(gh.counters().byRoute["DELETE /:scope/actions/runners/:runner_id"]).toBe(deletes! + 1);
      expect((await hostEvents("h2")).filter((e) => e.type === "VmRetired")).toHaveLength(1);
      expect(log.lines.join("\n")).not.toMatch(/ghs_|BEGIN (RSA )?PRIVATE KEY|"workflow_job":/);
      await rec.stop();
    });

    it("a stale queued job that is in_progress on GitHub → JobStarted(reconcile)", async () => {
      gh.controlDeliveries({ action: "in_progress", jobId: 5301 }, { kind: "drop" });
      gh.queueJob({ id: 5301, repo: "acme/widgets", labels: ["self-hosted", "oneshot-6cpu-6gb"], installationId: INSTALLATION });
      const r = gh.model.registerRunner({
        name: "oneshot-h3-vm5",
        labels: ["self-hosted", "oneshot-6cpu-6gb"],
        scope: { kind: "org", org: "acme" },
        runnerGroupId: 1,
        token: "t5",
      });
      gh.model.connect(r.id);
      expect(gh.model.acquire(r.id, 5301).ok).toBe(true);
      await gh.settleDeliveries();
      await start({ staleAfterMs: 0 });
      await rec.tick();
      await settle();
      const ev = await t.events("gh-5301");
      expect(ev.map((e) => e.type)).toEqual(["JobQueued", "JobStarted"]);
      expect(ev[1]!.data).toMatchObject({
        reportedBy: "reconcile",
        vmId: "vm5",
        reason: "GET /repos/acme/widgets/actions/jobs/5301: in_progress on oneshot-h3-vm5",
      });
      await rec.stop();
    });

    it("429 with retry-after: the client waits it out, and the budget metric shows 0 meanwhile", async () => {
      gh.queueJob({ id: 5401, repo: "acme/widgets", labels: ["self-hosted", "oneshot-3cpu-3gb"], installationId: INSTALLATION });
      await gh.settleDeliveries();
      await start({ staleAfterMs: 0 });
      // The installation token first (octokit fetches it, outside the budget), so the 429 lands on a reconcile call.
      await github.job({ provider: "github", repo: "acme/widgets", org: "acme", providerJobId: "5401", labels: [], installationId: INSTALLATION });
      gh.rateLimit.throttleNext(1, 429, 2);
      const began = Date.now();
      const pass = rec.tick();
      let sawZero = false;
      await waitFor("the budget gauge at 0", async () => (sawZero = (await metric("reconcile_budget_remaining")).some((v) => v.value === 0)), 3_000, 20);
      await pass;
      const took = Date.now() - began;
      expect(sawZero).toBe(true);
      expect(took).toBeGreaterThanOrEqual(1_900);
      const calls = await metric("reconcile_api_calls_total");
      expect(calls.filter((v) => v.labels.status === "429").reduce((n, v) => n + v.value, 0)).toBe(1);
      expect(
        calls.find((v) => v.labels.status === "200" && v.labels.endpoint === "GET /repos/:owner/:repo/actions/jobs/:job_id")?.value,
      ).toBeGreaterThanOrEqual(1);
      expect((await metric("reconcile_budget_remaining"))[0]!.value).toBeGreaterThan(0);
      await rec.stop();
    });
  },
);
