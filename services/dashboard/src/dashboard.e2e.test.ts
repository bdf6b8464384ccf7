import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing, waitFor } from "@oneshot/testing";
import { startUp, type CliResult, type UpStack } from "../../../packages/cli/src/e2e/harness.js";
import {
  chromiumMissing,
  consoleText,
  launchChromium,
  mainText,
  postFromPage,
  signIn,
  timelineTypes,
  waitForText,
  type TestBrowser,
} from "./browser.test-kit.js";

// The dashboard as a user meets it: `oneshot up` starts it beside the other services (each its
// own process, real NATS with TLS and NKeys, a real QEMU guest), a job runs through the stack,
// and a real headless Chromium shows it: queue, timeline, console, host, recent jobs, sign-in.
const skip = missing("nats", "root", "qemu-x86", "nft") ?? chromiumMissing();

describe.skipIf(skip)("dashboard end to end (oneshot up, a real QEMU guest, headless Chromium)", () => {
  let stack: UpStack;
  let b: TestBrowser;
  let url: string;
  let hostId: string;
  let jobId: string;
  let run: CliResult;

  beforeAll(async () => {
    stack = await startUp({ env: { HOSTD_MAX_VCPUS: "2", HOSTD_MAX_MEM_MIB: "2048" } });
    const up = JSON.parse(readFileSync(join(stack.state, "up.json"), "utf8")) as { dashboardUrl: string; hosts: string[] };
    url = up.dashboardUrl.replace(/\/$/, "");
    hostId = up.hosts[0]!;
    b = await launchChromium();
  });
  afterAll(async () => {
    await b?.close();
    await stack?.stop();
  });

  it("is started by `oneshot up`, which prints its URL as a dashboard line", async () => {
    await waitFor('the "oneshot is up" block', () => stack.output().includes("oneshot is up."), 30_000, 100);
    expect(stack.output()).toMatch(new RegExp(`^  dashboard\\s+${url.replace(/[.:/]/g, "\\$&")}/ `, "m"));
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it("shows a job run through the stack live in the queue, then its whole timeline and its console", async () => {
    await b.page.goto(`${url}/#/queue`);
    await waitForText(b.page, ["Waiting (0)", "Running (0)"]);
    const running = stack.cli(["run", "--mem", "256m", "--", "sh", "-c", "echo hello-dashboard; exit 0"]);
    // Under TCG a guest takes seconds to boot: the job shows in the queue while it is in flight.
    await waitFor("the job in the queue", () => b.page.$("#page tr[data-job-id]"), 120_000, 100);
    await b.screenshot("e2e-queue");
    run = await running;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("hello-dashboard");
    jobId = /queued (\S+)/.exec(run.stderr)![1]!;

    await b.page.goto(`${url}/#/jobs/${encodeURIComponent(jobId)}`);
    await waitFor("the timeline to reach JobCompleted", async () => (await timelineTypes(b.page)).includes("JobCompleted"), 60_000, 200);
    const types = await timelineTypes(b.page);
    const order = ["JobQueued", "JobScheduled", "VmBootRequested", "VmBooted", "VmExited", "VmDestroyed", "JobCompleted"];
    expect(types[0]).toBe("JobQueued");
    expect(types.filter((t) => order.includes(t!))).toEqual(order);
    // The timeline is exactly what the log holds for the job's correlation id.
    const logged = await stack.events(["--job", jobId]);
    expect(types).toEqual(logged.map((e) => e.type));
    await waitFor("the guest console", async () => (await consoleText(b.page)).includes("hello-dashboard"), 60_000, 200);
    expect(await b.page.$eval("#job-outcome", (e) => e.textContent)).toBe("succeeded (exit 0)");
    await b.screenshot("e2e-job");

    await b.page.goto(`${url}/#/jobs`);
    await waitForText(b.page, [jobId]);
    expect(await b.page.$eval(`tr[data-job-id="${jobId}"] [data-outcome]`, (e) => e.textContent)).toBe("succeeded");
    await b.screenshot("e2e-jobs");
  });

  it("shows the host with its capacity and accel, freed after the job", async () => {
    await b.page.goto(`${url}/#/hosts`);
    const text = await waitForText(b.page, [hostId, /\b0\/2 vCPU/, /\b0\/\d+ MiB/, /ago, up \d+s/]);
    expect(text).toMatch(/qemu\/(tcg|kvm)/);
    expect(text).toMatch(/ready/);
    await b.screenshot("e2e-hosts");
  });

  it("refuses a cordon without the admin token; after sign-in the cordon shows in the event log", async () => {
    const refused = await postFromPage(b.page, `/api/hosts/${hostId}/cordon`);
    expect(refused.status).toBe(401);
    expect((await stack.events(["--host", hostId])).map((e) => e.type)).not.toContain("HostCordoned");
    await signIn(b.page, readFileSync(join(stack.state, "dashboard-admin-token"), "utf8").trim());
    await waitFor(
      "the cordon button",
      () => b.page.$eval(`tr[data-host-id="${hostId}"] [data-action="cordon"]`, (e) => !(e as unknown as { disabled: boolean }).disabled),
      10_000,
      100,
    );
    await b.page.click(`tr[data-host-id="${hostId}"] [data-action="cordon"]`);
    await waitFor("the host to show cordoned", async () => (await mainText(b.page)).includes("cordoned"), 30_000, 200);
    await b.page.goto(`${url}/#/events`);
    await waitForText(b.page, ["HostCordoned", `${hostId} cordon from the dashboard`]);
    await b.screenshot("e2e-events");
    const stored = (await stack.events(["--host", hostId])).filter((e) => e.type === "HostCordoned");
    expect(stored).toHaveLength(1);
    expect(stack.logs("dashboard")).not.toContain(readFileSync(join(stack.state, "dashboard-admin-token"), "utf8").trim());
  });
});
