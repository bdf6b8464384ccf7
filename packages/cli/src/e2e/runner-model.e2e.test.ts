import { generateKeyPairSync, randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing, startFakeGitHub, startNetnsRelay, waitFor, type FakeGitHub, type ModelRunner, type NetnsRelay } from "@oneshot/testing";
import { FakeInternet } from "../../../../services/hostd/src/testing/fake-internet.js";
import type { EventJson } from "../view/event-line.js";
import { leftovers, startUp, type UpStack } from "./harness.js";

// The runner model end to end (docs/runner-model.md) with real VMs: GitHub's side is the
// stand-in (packages/testing/src/fake-github.ts) holding the Actions state; each VM's stand-in
// runner (images/agent/stand-in-runner) reaches it through NAT at a public TEST-NET address
// (a FakeInternet netns + relay), long-polls, and runs whatever job GitHub offers it — any job
// its labels cover, not the one its VM was booted for. Six jobs with the same labels:
//  - runners take each other's jobs (assignment held until two runners are online, then the
//    newest runner gets the oldest job: at least one swap is forced);
//  - job 5's `queued` delivery is lost (recovered only by the reconciler's redelivery);
//  - job 6 is cancelled before any runner picks it up, once a VM was booted for it (that VM
//    must then take another job or be retired: VmIdle → reconciler DELETE runner → VmRetired);
//  - the first `in_progress` delivery is answered 503 by a proxy in front of ingest (GitHub
//    never retries it: only the reconciler's redelivery brings it).
// Then: all six end correctly on GitHub's side, every started job completes with its runner's
// own exit, and nothing is left (no VM, tap, disk, runner registration).
const skip = missing("nats", "root", "qemu-x86", "nft");
const JOBS = [1, 2, 3, 4, 5, 6].map((i) => 880_000 + i);
const LOST = JOBS[4]!;
const CANCELLED = JOBS[5]!;
const LABELS = ["self-hosted", "oneshot-1cpu-1gb"];

describe.skipIf(skip)("runner model end to end (real VMs, GitHub stand-in with any-runner assignment, lost/503 deliveries)", () => {
  let stack: UpStack;
  let github: FakeGitHub;
  let net: FakeInternet;
  let relay: NetnsRelay;
  let proxy: Server;
  let proxied503: { guid: string; jobId: number } | undefined;
  const app = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const t0 = Date.now();

  beforeAll(async () => {
    net = new FakeInternet(`rm${randomInt(100, 999)}`, randomInt(1, 250));
    net.start();
    // Newest registered runner first: with two online, the oldest queued job goes to the newer.
    // Job 6 is never offered (it is cancelled once its VM is booted, before any pickup).
    const newestFirst = (j: { id: number }, c: ModelRunner[]) =>
      j.id === CANCELLED ? undefined : [...c].sort((a, b) => b.createdAt - a.createdAt || b.id - a.id)[0];
    github = await startFakeGitHub({
      appId: "4242",
      publicKeyPem: app.publicKey.export({ type: "spki", format: "pem" }).toString(),
      host: "0.0.0.0",
      reofferMs: 30_000,
      pollMs: 15_000,
      seed: 11,
      chooser: newestFirst,
    });
    const ghPort = Number(new URL(github.url).port);
    relay = await startNetnsRelay({ ns: net.ns, listen: { host: net.publicIp, port: 8443 }, target: { host: net.hostIp, port: ghPort } });
    github.setRunnerUrl(relay.url);
    stack = await startUp({
      env: {
        GITHUB_APP_ID: "4242",
        GITHUB_APP_PRIVATE_KEY: app.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
        GITHUB_API_URL: github.url,
        ONESHOT_UP_BRIDGE_PREFIX: "osrm",
        ONESHOT_UP_SUBNET_BASE: "44",
        INGEST_IMAGE: "minimal",
        HOSTD_MAX_VCPUS: "6",
        HOSTD_MAX_MEM_MIB: "7168",
        HOSTD_RESERVE_VCPUS: "0",
        // The stand-in internet is a host route; without this hostd would forbid it as the host's private side.
        HOSTD_PUBLIC_ROUTES: `${net.publicIp}/32`,
        RECONCILE_INTERVAL: "10",
        RECONCILE_STALE_AFTER: "60",
        SCHEDULER_IDLE_DEADLINE: "180",
      },
    });
    // A proxy in front of ingest: answers the first in_progress delivery 503 without passing it on.
    const up = JSON.parse(readFileSync(join(stack.state, "up.json"), "utf8")) as { ingestUrl: string };
    proxy = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (d: Buffer) => chunks.push(d));
      req.on("end", () => {
        const raw = Buffer.concat(chunks);
        const body = JSON.parse(raw.toString()) as { action?: string; workflow_job?: { id: number } };
        if (!proxied503 && body.action === "in_progress") {
          proxied503 = { guid: String(req.headers["x-github-delivery"]), jobId: body.workflow_job!.id };
          return void res.writeHead(503).end("injected by the test's proxy");
        }
        const headers: Record<string, string> = {};
        for (const h of ["content-type", "x-github-event", "x-github-delivery", "x-hub-signature-256", "x-github-hook-id"])
          if (req.headers[h]) headers[h] = String(req.headers[h]);
        fetch(`${up.ingestUrl}/webhooks/github`, { method: "POST", headers, body: raw })
          .then(async (r) => res.writeHead(r.status).end(await r.text()))
          .catch((e: Error) => res.writeHead(502).end(e.message));
      });
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    github.setWebhook(
      `http://127.0.0.1:${(proxy.address() as { port: number }).port}/webhooks/github`,
      readFileSync(join(stack.state, "github-webhook-secret"), "utf8").trim(),
    );
  }, 600_000);

  afterAll(async () => {
    await stack?.stop();
    relay?.close();
    proxy?.close();
    await github?.close();
    net?.dispose();
  });

  it("six jobs, swapped runners, a lost queued, a cancelled job, a 503: all end right, none killed, nothing left", { timeout: 480_000 }, async () => {
    const started = Date.now();
    github.pauseAssignment(true);
    github.controlDeliveries({ action: "queued", jobId: LOST }, { kind: "drop" });
    for (const [i, id] of JOBS.entries())
      github.queueJob({
        id,
        runId: 4400,
        repo: "acme/widgets",
        labels: LABELS,
        name: `matrix (${i + 1})`,
        script: `echo job ${id}; sleep ${3 + (i % 3)}; exit 0`,
      });
    const online = () => [...github.model.runners.values()].filter((r) => github.model.online(r)).length;
    await waitFor("two runners online", () => online() >= 2, 150_000, 500);
    github.pauseAssignment(false);
    await waitFor(
      "a VM booted for the job to cancel",
      async () => (await stack.events(["--job", `gh-${CANCELLED}`])).some((e) => e.type === "JobScheduled"),
      120_000,
      1000,
    );
    github.cancelJob(CANCELLED);

    const ended = () => JOBS.every((id) => github.job(id)?.status === "completed");
    // One budget for the rest, so the figures are printed before the test's own timeout.
    const left = () => Math.max(5_000, 360_000 - (Date.now() - started));
    try {
      await waitFor("all six jobs completed on GitHub's side", ended, left(), 1000);
      // …and nothing left running on our side.
      await waitFor(
        "every VM destroyed and every runner registration gone",
        async () => {
          const ev = await stack.events();
          const booted = new Set(ev.filter((e) => e.type === "VmBootRequested").map((e) => (e.data as { vmId: string }).vmId));
          const destroyed = new Set(ev.filter((e) => e.type === "VmDestroyed").map((e) => (e.data as { vmId: string }).vmId));
          return booted.size > 0 && [...booted].every((v) => destroyed.has(v)) && github.model.runners.size === 0;
        },
        left(),
        1000,
      );
    } finally {
      await report();
    }

    for (const id of JOBS.filter((j) => j !== CANCELLED)) expect(github.job(id), `job ${id}`).toMatchObject({ status: "completed", conclusion: "success" });
    expect(github.job(CANCELLED)).toMatchObject({ status: "completed", conclusion: "cancelled", runnerId: null });
    // No job killed: every job that went in_progress completed with its runner's exit (success).
    for (const a of github.model.assignments) expect(github.job(a.jobId)?.conclusion, `job ${a.jobId} on ${a.runnerName}`).toBe("success");
    const ev = await stack.events();
    // At least one swap: a job ran on a VM booted for another job.
    const bootedFor = new Map(ev.filter((e) => e.type === "JobScheduled").map((e) => [(e.data as { vmId: string }).vmId, (e.data as { jobId: string }).jobId]));
    const swaps = github.model.assignments.filter((a) => {
      const vm = a.runnerName.split("-").at(-1)!;
      return bootedFor.get(vm) !== undefined && bootedFor.get(vm) !== `gh-${a.jobId}`;
    });
    expect(swaps.length, JSON.stringify({ assignments: github.model.assignments, bootedFor: [...bootedFor] })).toBeGreaterThanOrEqual(1);
    // The lost queued and the 503 were both recovered by redelivery (GitHub never retries).
    const lost = github.deliveries().filter((d) => d.action === "queued" && (JSON.parse(d.body) as { workflow_job: { id: number } }).workflow_job.id === LOST);
    expect(lost.map((d) => [d.redelivery, d.status_code === 0 ? "failed" : d.status])).toEqual([
      [false, "failed"],
      [true, "OK"],
    ]);
    expect(proxied503).toBeDefined();
    expect(
      github
        .deliveries()
        .filter((d) => d.guid === proxied503!.guid)
        .map((d) => [d.redelivery, d.status]),
    ).toEqual([
      [false, "Invalid HTTP Response: 503"],
      [true, "OK"],
    ]);
    // Six VMs for five jobs that ran: one ran nothing and was retired through the reconciler.
    const ranNothing = ev
      .filter((e) => e.type === "VmBooted")
      .map((e) => (e.data as { vmId: string }).vmId)
      .filter((v) => !github.model.assignments.some((a) => a.runnerName.endsWith(`-${v}`)));
    for (const v of ranNothing)
      expect(
        ev.some((e) => e.type === "VmRetired" && (e.data as { vmId: string }).vmId === v),
        `VmRetired for ${v}`,
      ).toBe(true);
    for (const v of new Set(ev.filter((e) => e.type === "VmBootRequested").map((e) => (e.data as { vmId: string }).vmId)))
      expect(leftovers(v, stack.state)).toEqual([]);
  });

  it(
    "retires a VM whose job was cancelled before pickup when nothing else is queued: VmIdle → runner removed at GitHub → VmRetired → destroyed",
    { timeout: 300_000 },
    async () => {
      const id = 880_007;
      // No runner may take it: the VM boots, its runner registers and goes online, then the job is cancelled.
      github.pauseAssignment(true);
      github.queueJob({ id, runId: 4401, repo: "acme/widgets", labels: LABELS, name: "lonely", script: "exit 0" });
      const vmOf = (e: EventJson) => (e.data as { vmId?: string }).vmId;
      const booted = await waitFor("its VM booted", async () => (await stack.events(["--job", `gh-${id}`])).find((e) => e.type === "VmBooted"), 180_000, 1000);
      const vmId = vmOf(booted)!;
      await waitFor(
        "its runner online",
        () => [...github.model.runners.values()].some((r) => r.name.endsWith(`-${vmId}`) && github.model.online(r)),
        120_000,
        500,
      );
      const cancelledAt = Date.now();
      github.cancelJob(id);
      github.pauseAssignment(false);
      const destroyed = await waitFor(
        "the idle VM destroyed",
        async () => (await stack.events()).find((e) => e.type === "VmDestroyed" && vmOf(e) === vmId),
        180_000,
        1000,
      );
      const ev = await stack.events();
      const mine = ev.filter((e) => vmOf(e) === vmId).map((e) => e.type);
      expect(mine).toEqual(expect.arrayContaining(["VmIdle", "VmRetired", "VmDestroyed"]));
      expect(mine.indexOf("VmIdle")).toBeLessThan(mine.indexOf("VmRetired"));
      expect(ev.filter((e) => e.type === "JobStarted" && (e.data as { jobId: string }).jobId === `gh-${id}`)).toEqual([]);
      expect((await stack.events(["--job", `gh-${id}`])).map((e) => e.type)).toContain("JobCancelled");
      // The runner's registration is gone at GitHub (the reconciler removed it before the VM went).
      expect([...github.model.runners.values()].filter((r) => r.name.endsWith(`-${vmId}`))).toEqual([]);
      expect(leftovers(vmId, stack.state)).toEqual([]);
      const retired = ev.find((e) => e.type === "VmRetired" && vmOf(e) === vmId)!;
      process.stdout.write(
        `runner-model e2e: cancelled job's idle VM ${vmId}: cancel → VmRetired ${((Date.parse(retired.time) - cancelledAt) / 1000).toFixed(1)} s, → VmDestroyed ${((Date.parse(destroyed.time) - cancelledAt) / 1000).toFixed(1)} s\n`,
      );
    },
  );

  async function report(): Promise<void> {
    const ev: EventJson[] = await stack.events().catch(() => []);
    const at = (e: EventJson) => Date.parse(e.time);
    const lost = github.deliveries().filter((d) => d.action === "queued" && d.body.includes(`"id":${LOST},`));
    const lostAt = lost.find((d) => !d.redelivery);
    const recovered = lost.find((d) => d.redelivery && d.status === "OK");
    const queuedLost = ev.find((e) => e.type === "JobQueued" && (e.data as { jobId: string }).jobId === `gh-${LOST}`);
    // Idle VM time: boot done → the runner's job started (in_progress for it), or → destroyed if it never ran one.
    let idleMs = 0;
    const vms = ev.filter((e) => e.type === "VmBooted").map((e) => ({ vmId: (e.data as { vmId: string }).vmId, booted: at(e) }));
    const lines: string[] = [];
    for (const v of vms) {
      const started = ev.find((e) => e.type === "JobStarted" && (e.data as { vmId?: string }).vmId === v.vmId);
      const destroyed = ev.find((e) => e.type === "VmDestroyed" && (e.data as { vmId: string }).vmId === v.vmId);
      const ranOn = github.model.assignments.find((a) => a.runnerName.endsWith(`-${v.vmId}`));
      const until = ranOn ? ranOn.at : destroyed ? at(destroyed) : Date.now();
      idleMs += Math.max(0, until - v.booted);
      lines.push(
        `  vm ${v.vmId}: booted for ${ev.find((e) => e.type === "JobScheduled" && (e.data as { vmId: string }).vmId === v.vmId)?.data ? (ev.find((e) => e.type === "JobScheduled" && (e.data as { vmId: string }).vmId === v.vmId)!.data as { jobId: string }).jobId : "?"}, ran ${ranOn ? `gh-${ranOn.jobId}` : "nothing"}, JobStarted ${started ? "yes" : "no"}, idle ${((until - v.booted) / 1000).toFixed(1)} s, destroyed ${destroyed ? "yes" : "NO"}`,
      );
    }
    const c = github.counters();
    const types = ev.reduce<Record<string, number>>((m, e) => ((m[e.type] = (m[e.type] ?? 0) + 1), m), {});
    process.stdout.write(
      [
        `runner-model e2e figures (${((Date.now() - t0) / 1000).toFixed(0)} s in all):`,
        `  lost queued of gh-${LOST}: dropped at ${lostAt?.delivered_at ?? "?"}, redelivered OK ${recovered ? `after ${((Date.parse(recovered.delivered_at) - Date.parse(lostAt!.delivered_at)) / 1000).toFixed(1)} s` : "NEVER"}; JobQueued ${queuedLost ? `after ${((at(queuedLost) - Date.parse(lostAt!.delivered_at)) / 1000).toFixed(1)} s` : "never"}`,
        `  503'd delivery: ${
          proxied503
            ? `${proxied503.guid} (in_progress of gh-${proxied503.jobId}), attempts ${github
                .deliveries()
                .filter((d) => d.guid === proxied503!.guid)
                .map((d) => d.status)
                .join(" → ")}`
            : "none"
        }`,
        `  GitHub API calls: ${c.total} (${JSON.stringify(c.byRoute)}), statuses ${JSON.stringify(c.byStatus)}, runner-protocol calls ${github.runnerCalls.length}, relay connections ${relay.connections()}`,
        `  deliveries: ${github.deliveries().length} attempts, ${github.deliveries().filter((d) => d.redelivery).length} redeliveries`,
        `  idle-VM seconds: ${(idleMs / 1000).toFixed(1)} over ${vms.length} VMs`,
        ...lines,
        `  assignments: ${github.model.assignments.map((a) => `gh-${a.jobId}→${a.runnerName}`).join(", ")}`,
        `  GitHub jobs: ${JOBS.map((id) => `${id}:${github.job(id)?.status}/${github.job(id)?.conclusion ?? "-"}`).join(" ")}`,
        `  runners still registered: ${[...github.model.runners.values()].map((r) => `${r.name}(${github.model.online(r) ? "online" : "offline"})`).join(", ") || "none"}`,
        `  events: ${JSON.stringify(types)}`,
        "",
      ].join("\n"),
    );
  }
});
