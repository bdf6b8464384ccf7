import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encode, subjects, type DomainEvent, type Message } from "@oneshot/proto";
import { EventStore, connectNats, createLogger, newEventId, type Nats } from "@oneshot/runtime";
import { WaitAborted, freePort, missing, startNats, waitFor, type TestNats } from "@oneshot/testing";
import { envVarFor, natsConfig } from "../../../packages/cli/src/admin/nats-config.js";
import { provisionAll } from "../../../packages/cli/src/admin/provision.js";
import { chromiumMissing, consoleText, launchChromium, postFromPage, signIn, timelineTypes, waitForText, type TestBrowser } from "./browser.test-kit.js";

// The dashboard as its own process, logged in as its own least-privilege identity on a real
// nats-server, driven in a real headless Chromium. The log is written here by hand (the e2e
// test runs a real job through the whole stack); every update reaches the page live.
const skip = missing("nats") ?? chromiumMissing();
const main = join(import.meta.dirname, "..", "dist", "main.js");
const log = createLogger("test", { level: "silent" });
const mac = ` mac=${"ab".repeat(32)}`;
const spec = { arch: "amd64", vcpus: 2, memMiB: 1024, diskGiB: 1, image: "minimal", timeoutSec: 60 } as const;
const ref = { hostId: "metal-01", vmId: "vm0dash01", jobId: "local-dash-1" };
const TOKEN = "test-admin-token-0123456789abcdef";

describe.skipIf(skip)("dashboard in a real browser (real NATS, the dashboard's own identity)", () => {
  let server: TestNats;
  let admin: Nats;
  let store: EventStore;
  let dash: ChildProcess;
  let out = "";
  let url: string;
  let b: TestBrowser;
  const append = (e: DomainEvent, correlationId = "cli-run-dash") => store.append(e, { correlationId });
  const publish = (subject: string, m: Message) =>
    admin.js.publish(subject, encode(m, { id: newEventId(), occurredAt: new Date().toISOString(), correlationId: "cli-run-dash", causationId: null }));

  beforeAll(async () => {
    if (!existsSync(main)) throw new Error(`${main} missing: run \`npm run build\` first`);
    const dir = mkdtempSync(join(tmpdir(), "oneshot-dashboard-"));
    for (const u of ["admin", "ingest", "scheduler", "janitor", "dashboard", "hostd-metal-01", "audit"]) process.env[envVarFor(u)] = `pw-${u}`;
    const natsPort = await freePort();
    const conf = join(dir, "nats.conf");
    writeFileSync(conf, natsConfig({ hosts: ["metal-01"], port: natsPort, listen: "127.0.0.1", storeDir: join(dir, "js"), dashboard: true }));
    server = await startNats({ port: natsPort, config: conf });
    admin = await connectNats({ url: server.url, name: "admin", user: "admin", password: "pw-admin" }, log);
    await provisionAll(admin, ["metal-01"], log);
    store = new EventStore(admin.js, admin.jsm);
    // What was there before the dashboard started: it replays it.
    await append(
      {
        type: "HostRegistered",
        data: {
          hostId: "metal-01",
          arch: "amd64",
          capacity: { vcpus: 4, memMiB: 4096, diskGiB: 20 },
          labels: [],
          vmm: "qemu",
          accel: "tcg",
          emulated: false,
          images: ["minimal"],
          publicKey: "k",
          version: "0",
        },
      },
      "host-boot",
    );
    await append({
      type: "JobQueued",
      data: { jobId: ref.jobId, spec, source: { provider: "local", repo: "local", org: "local", providerJobId: ref.jobId, labels: [] } },
    });
    await append(
      {
        type: "JobQueued",
        data: {
          jobId: "local-waiting",
          spec: { ...spec, vcpus: 64 },
          source: { provider: "local", repo: "local", org: "local", providerJobId: "w", labels: [] },
        },
      },
      "cli-run-wait",
    );

    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    dash = spawn(process.execPath, [main], {
      env: {
        ...process.env,
        NATS_URL: server.url,
        NATS_USER: "dashboard",
        NATS_PASSWORD: "pw-dashboard",
        DASHBOARD_PORT: String(port),
        DASHBOARD_ADMIN_TOKEN_FILE: tokenFile,
        LOG_LEVEL: "debug",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    dash.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    dash.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    await waitFor(
      "the dashboard to be caught up",
      async () => {
        if (dash.exitCode !== null) throw new WaitAborted(`dashboard exited ${dash.exitCode}:\n${out}`);
        return (await fetch(`${url}/healthz`).catch(() => undefined))?.ok;
      },
      30_000,
      100,
      () => out,
    );
    b = await launchChromium();
  });

  afterAll(async () => {
    await b?.close();
    dash?.kill("SIGTERM");
    if (dash && dash.exitCode === null) await new Promise((r) => dash.once("exit", r));
    await admin?.nc.close();
    await server?.dispose();
  });

  it("shows the queue, then moves the job to placed and running as events arrive", async () => {
    await b.page.goto(`${url}/#/queue`);
    let text = await waitForText(b.page, ["Waiting (2)", ref.jobId, "local-waiting"]);
    expect(text).toContain("Running (0)");
    await append({ type: "JobScheduled", data: { ...ref, spec, attempt: 0 } });
    await waitForText(b.page, ["Waiting (1)", "Placed (1)"]);
    await append({ type: "VmBootRequested", data: { ...ref, tap: "os-vm0dash01", disks: [] } });
    await append({
      type: "VmBooted",
      data: { ...ref, vmm: "qemu", accel: "tcg", pid: 1, timings: { diskMs: 1, configMs: 1, netMs: 1, vmmStartMs: 1, agentReadyMs: 900, totalMs: 910 } },
    });
    text = await waitForText(b.page, ["Running (1)", "Placed (0)"]);
    expect(text).toMatch(/local-dash-1\s+running/);
    await b.screenshot("int-queue");
  });

  it("shows the host with its capacity in use, accel and heartbeat", async () => {
    await publish(subjects.heartbeat("metal-01"), {
      type: "HostHeartbeat",
      data: {
        hostId: "metal-01",
        runningVms: 1,
        used: { vcpus: 2, memMiB: 1024, diskGiB: 1 },
        capacity: { vcpus: 4, memMiB: 4096, diskGiB: 20 },
        accel: "tcg",
        draining: false,
        uptimeSec: 42,
      },
    });
    await b.page.goto(`${url}/#/hosts`);
    const text = await waitForText(b.page, ["metal-01", "2/4 vCPU", "1024/4096 MiB", "qemu/tcg", "ready", /ago, up 42s/]);
    expect(text).toMatch(/\bnone\b/); // no warm pool yet
    expect(await b.page.$eval('tr[data-host-id="metal-01"] .cpu .bar > span', (e) => (e as unknown as { style: { width: string } }).style.width)).toBe("50%");
    // The host boots a pool VM: the page shows it ready, by shape.
    await append(
      {
        type: "VmWarmed",
        data: {
          hostId: "metal-01",
          vmId: "warm01",
          shape: { arch: "amd64", vcpus: 1, memMiB: 256, diskGiB: 1, image: "minimal" },
          vmm: "qemu",
          accel: "tcg",
          timings: { diskMs: 1, configMs: 1, netMs: 1, vmmStartMs: 1, agentReadyMs: 800, totalMs: 805 },
        },
      },
      "warm-pool",
    );
    await waitForText(b.page, ["1 ready (1 × amd64 1cpu/256MiB/minimal)"]);
    await b.screenshot("int-hosts");
  });

  it("shows a job's whole correlated timeline and its live guest console", async () => {
    await publish(subjects.vmLog(ref.hostId, ref.vmId), {
      type: "VmOutput",
      data: {
        ...ref,
        offset: 0,
        text: `[    0.1] Linux version 6.1\nONESHOT-AGENT-READY${mac}\nONESHOT-JOB-START kind=local job=${ref.jobId}${mac}\nhello-dashboard\n`,
      },
    });
    await b.page.goto(`${url}/#/jobs/${ref.jobId}`);
    await waitFor("the console line", async () => (await consoleText(b.page)).includes("hello-dashboard"), 30_000, 200);
    expect(await consoleText(b.page)).not.toContain("Linux version"); // kernel lines and markers are not the job's output
    // Live: more output and the rest of the VM's life arrive while the page is open.
    await publish(subjects.vmLog(ref.hostId, ref.vmId), { type: "VmOutput", data: { ...ref, offset: 200, text: `second line\nONESHOT-JOB-EXIT=0${mac}\n` } });
    await append({ type: "VmExited", data: { ...ref, exitCode: 0, reason: "exited", runMs: 1200 } });
    await append({ type: "VmDestroyed", data: { ...ref, removed: ["tap:os-vm0dash01"] } });
    await append({ type: "JobCompleted", data: { jobId: ref.jobId, conclusion: "success", exitCode: 0, reportedBy: "vm" } });
    await waitFor("the whole timeline", async () => (await timelineTypes(b.page)).includes("JobCompleted"), 30_000, 200);
    expect(await timelineTypes(b.page)).toEqual(["JobQueued", "JobScheduled", "VmBootRequested", "VmBooted", "VmExited", "VmDestroyed", "JobCompleted"]);
    expect(await consoleText(b.page)).toBe("hello-dashboard\nsecond line\n");
    expect(await b.page.$eval("#job-outcome", (e) => e.textContent)).toBe("succeeded (exit 0)");
    await b.screenshot("int-job");
  });

  it("lists recent jobs with their outcome", async () => {
    await b.page.goto(`${url}/#/jobs`);
    await waitForText(b.page, [ref.jobId, "local-waiting"]);
    // The job page's console follow ended with the page: no consumer is left reading LOGS.
    const logConsumers = async () => {
      let n = 0;
      for await (const c of admin.jsm.consumers.list("LOGS")) if (c) n++;
      return n;
    };
    await waitFor("the console's consumer to go", async () => (await logConsumers()) === 0, 15_000, 200);
    expect(await b.page.$eval(`tr[data-job-id="${ref.jobId}"] [data-outcome]`, (e) => e.textContent)).toBe("succeeded");
    expect(await b.page.$eval('tr[data-job-id="local-waiting"] [data-outcome]', (e) => e.textContent)).toBe("in progress");
    await b.screenshot("int-jobs");
  });

  it("refuses a cordon without the admin token, and appends one after sign-in that shows in the event log", async () => {
    await b.page.goto(`${url}/#/hosts`);
    await waitForText(b.page, ["metal-01"]);
    expect(await b.page.$eval('tr[data-host-id="metal-01"] [data-action="cordon"]', (e) => (e as unknown as { disabled: boolean }).disabled)).toBe(true);
    const refused = await postFromPage(b.page, "/api/hosts/metal-01/cordon");
    expect(refused).toEqual({ status: 401, body: { error: "sign in with the admin token first" } });
    // A page elsewhere cannot use an operator's session: cross-origin writes are refused outright.
    const cross = await fetch(`${url}/api/hosts/metal-01/cordon`, { method: "POST", headers: { origin: "http://evil.example" } });
    expect(cross.status).toBe(403);
    await signIn(b.page, "not-the-token-at-all");
    await waitFor("the refusal", async () => (await b.page.$eval("#notice", (e) => e.textContent ?? "")).includes("sign-in refused (401)"), 10_000, 100);
    await signIn(b.page, TOKEN);
    await waitFor(
      "the operator's buttons",
      () => b.page.$eval('tr[data-host-id="metal-01"] [data-action="cordon"]', (e) => !(e as unknown as { disabled: boolean }).disabled),
      10_000,
      100,
    );
    await b.page.click('tr[data-host-id="metal-01"] [data-action="cordon"]');
    await waitForText(b.page, ["cordoned"]);
    await b.page.goto(`${url}/#/events`);
    const text = await waitForText(b.page, ["HostCordoned", "metal-01 cordon from the dashboard"]);
    expect(text).toMatch(/HostCordoned/);
    const stored = (await store.readAggregate(subjects.host("metal-01"))).events.map((e) => e.type);
    expect(stored).toContain("HostCordoned");
    // Cancel the waiting job from its page: JobCancelled under the job's own correlation id.
    await b.page.goto(`${url}/#/jobs/local-waiting`);
    await b.page.waitForSelector('#job-facts [data-action="cancel"]');
    await b.page.click('#job-facts [data-action="cancel"]');
    await waitFor("the cancel in the timeline", async () => (await timelineTypes(b.page)).includes("JobCancelled"), 10_000, 100);
    const cancel = (await store.readAggregate(subjects.job("local-waiting"))).events.find((e) => e.type === "JobCancelled");
    expect(cancel?.correlationId).toBe("cli-run-wait");
    await b.page.goto(`${url}/#/events`);
    await waitForText(b.page, ["JobCancelled"]);
    await b.screenshot("int-events");
    // Guessing is slow: after ten wrong tokens an address waits a minute, even with the right one.
    const tryToken = async (token: string) => (await fetch(`${url}/api/session`, { method: "POST", body: JSON.stringify({ token }) })).status;
    for (let i = 0; i < 9; i++) expect(await tryToken(`guess-${i}`)).toBe(401); // one wrong already, from the page
    expect(await tryToken(TOKEN)).toBe(429);
    expect(out).not.toContain(TOKEN);
  });
});
