import { createHash, createHmac, generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing, startFakeGitHub, waitFor, type FakeGitHub } from "@oneshot/testing";
import { leftovers, startUp, type UpStack } from "./harness.js";

// A GitHub job end to end: a signed `workflow_job` webhook → JobQueued → a VM boots whose agent
// receives the just-in-time config that ingest minted from the GitHub API stand-in (sealed to
// the host), and runs the image's stand-in runner, which prints the config's digest.
const skip = missing("nats", "root", "qemu-x86", "nft");
const fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, "..", "..", "..", "..", "services", "ingest", "test", "fixtures", "workflow_job.queued.json"), "utf8"),
) as {
  action: string;
  workflow_job: Record<string, unknown>;
};

describe.skipIf(skip)("GitHub workflow_job end to end (real NATS, real QEMU guest, GitHub API stand-in)", () => {
  let stack: UpStack;
  let github: FakeGitHub;
  const app = generateKeyPairSync("rsa", { modulusLength: 2048 });
  beforeAll(async () => {
    github = await startFakeGitHub({ appId: "4242", publicKeyPem: app.publicKey.export({ type: "spki", format: "pem" }).toString() });
    stack = await startUp({
      env: {
        GITHUB_APP_ID: "4242",
        GITHUB_APP_PRIVATE_KEY: app.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
        GITHUB_API_URL: github.url,
        INGEST_IMAGE: "minimal",
        HOSTD_MAX_VCPUS: "4",
        HOSTD_MAX_MEM_MIB: "4096",
      },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    await github?.close();
  });

  const deliver = async (action: string, patch: Record<string, unknown> = {}) => {
    const body = JSON.stringify({
      ...fixture,
      action,
      workflow_job: { ...fixture.workflow_job, id: 555001, labels: ["self-hosted", "oneshot-2cpu-2gb"], ...patch },
    });
    const secret = readFileSync(join(stack.state, "github-webhook-secret"), "utf8").trim();
    const up = JSON.parse(readFileSync(join(stack.state, "up.json"), "utf8")) as { ingestUrl: string };
    const r = await fetch(`${up.ingestUrl}/webhooks/github`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": "workflow_job",
        "x-github-delivery": `e2e-${action}`,
        "x-hub-signature-256": `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`,
      },
      body,
    });
    expect(r.status).toBe(202);
  };

  it("boots a VM whose runner gets the sealed JIT config, then follows in_progress and completed", async () => {
    await deliver("queued");
    const exited = await waitFor(
      "the runner VM to finish",
      async () => (await stack.events(["--job", "gh-555001"])).find((e) => e.type === "VmDestroyed"),
      240_000,
      500,
    );
    const events = await stack.events(["--job", "gh-555001"]);
    const vmExit = events.find((e) => e.type === "VmExited")!.data as { exitCode: number; vmId: string; hostId: string };
    expect(vmExit.exitCode).toBe(0);
    const runnerName = `oneshot-${vmExit.hostId}-${vmExit.vmId}`;
    const config = github.jitConfigs.get(runnerName);
    expect(config, `no JIT config minted for ${runnerName}: ${JSON.stringify(github.calls)}`).toBeTruthy();
    // The guest printed the digest of what it received: exactly the config GitHub minted.
    const jobsOut = await stack.cli(["events", "--json", "--job", "gh-555001"]);
    const digest = createHash("sha256").update(config!).digest("hex");
    const consoleText = await consoleOf(stack, vmExit.hostId, vmExit.vmId);
    expect(consoleText).toContain(`oneshot stand-in runner: jitconfig bytes=${Buffer.byteLength(config!)} sha256=${digest}`);
    // The secret never entered the event log.
    expect(jobsOut.stdout).not.toContain(config!);
    expect((await stack.cli(["events", "--json"])).stdout).not.toContain(config!);
    expect(leftovers(vmExit.vmId, stack.state)).toEqual([]);
    void exited;

    await deliver("in_progress", { status: "in_progress", runner_id: 7, runner_name: runnerName });
    await deliver("completed", { status: "completed", conclusion: "success", runner_id: 7, runner_name: runnerName });
    const types = (await stack.events(["--job", "gh-555001"])).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(["JobQueued", "JobScheduled", "VmBooted", "VmExited", "VmDestroyed", "JobStarted", "JobCompleted"]));
    expect(types.indexOf("JobStarted")).toBeLessThan(types.indexOf("JobCompleted"));
  });
});

/** The guest console as hostd published it (stream LOGS), via a small consumer. */
async function consoleOf(stack: UpStack, hostId: string, vmId: string): Promise<string> {
  const { connectNats, createLogger } = await import("@oneshot/runtime");
  const { decode } = await import("@oneshot/proto");
  const up = JSON.parse(readFileSync(join(stack.state, "up.json"), "utf8")) as {
    natsUrl: string;
    natsCaFile: string;
    auditUser: string;
    auditNkeyFile: string;
  };
  // `oneshot up` runs NATS with production's identities, NKeys and TLS: read as the audit one.
  const { nc, js } = await connectNats(
    { url: up.natsUrl, name: "e2e-audit", user: up.auditUser, nkeySeedFile: up.auditNkeyFile, caFile: up.natsCaFile },
    createLogger("e2e", { level: "silent" }),
  );
  const c = await js.consumers.get("LOGS", { filter_subjects: `log.host.${hostId}.vm.${vmId}` });
  let text = "";
  const it = await c.consume();
  for await (const m of it) {
    text += (decode(m.data).data as { text: string }).text;
    if (m.info.pending === 0) break;
  }
  await nc.close();
  return text.replace(/\r/g, "");
}
