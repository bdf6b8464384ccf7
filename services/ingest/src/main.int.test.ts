import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, missing, startNats, waitFor, type TestNats } from "@oneshot/testing";
import { SECRET, deliveryId, postGithub, workflowJob } from "../test/harness.js";

// The built service as operators run it (`node services/ingest/dist/main.js`; `npm test` builds first).
const main = join(import.meta.dirname, "..", "dist", "main.js");
const skip = missing("nats");
const built = () => {
  if (!existsSync(main)) throw new Error(`${main} is missing: build first (npx tsc -b services/ingest)`);
};

describe("ingest's start-up configuration check (built service)", () => {
  it.each([
    [{ INGEST_PORT: "eighty" }, /^oneshot-ingest: invalid configuration: INGEST_PORT: /],
    [
      { GITHUB_APP_ID: "4242", GITHUB_APP_PRIVATE_KEY_FILE: "/nonexistent/app.pem" },
      /^oneshot-ingest: invalid configuration: GITHUB_APP_PRIVATE_KEY_FILE: cannot read \/nonexistent\/app.pem \(ENOENT\)$/,
    ],
    [{ GITHUB_APP_ID: "4242", GITHUB_APP_PRIVATE_KEY: "not a key" }, /GITHUB_APP_PRIVATE_KEY: is not an RSA private key/],
  ])("stops with one line naming the variable: %j", (env, line) => {
    built();
    // NATS_URL points nowhere: the check must come before any connection attempt.
    const r = spawnSync(process.execPath, [main], {
      env: { PATH: process.env.PATH, NATS_URL: "nats://127.0.0.1:1", ...env },
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(r.status).toBe(78);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(line);
  });
});

describe.skipIf(skip)("ingest as a process (built service, real nats-server)", () => {
  let nats: TestNats;
  let proc: ReturnType<typeof spawn>;
  let port: number;
  let opsPort: number;
  let stdout = "";
  beforeAll(async () => {
    built();
    nats = await startNats();
    [port, opsPort] = [await freePort(), await freePort()];
    proc = spawn(process.execPath, [main], {
      env: {
        PATH: process.env.PATH,
        NATS_URL: nats.url,
        INGEST_PORT: String(port),
        INGEST_HOST: "127.0.0.1",
        INGEST_HTTP_PORT: String(opsPort),
        GITHUB_WEBHOOK_SECRET: SECRET,
        GITHUB_APP_PRIVATE_KEY_FILE: "/run/secrets/github-app-key",
        GITHUB_APP_ID: "",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    proc.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    await waitFor(
      "ingest to answer /healthz",
      async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200,
      30_000,
      100,
    );
  });
  afterAll(async () => {
    if (proc && proc.exitCode === null) proc.kill("SIGKILL");
    await nats?.dispose();
  });

  it("serves webhooks and /healthz on INGEST_PORT, and /healthz and /metrics only on INGEST_HTTP_PORT", async () => {
    const base = `http://127.0.0.1:${port}`;
    expect((await postGithub(base, workflowJob("queued", 4001), { delivery: deliveryId() })).status).toBe(202);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${opsPort}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
    expect(metrics).toContain("ingest_store_seconds_bucket");
    expect(metrics).toMatch(/ingest_requests_total\{route="\/webhooks\/github",outcome="202",service="ingest"\} 1/);
    expect((await fetch(`http://127.0.0.1:${opsPort}/webhooks/github`, { method: "POST" })).status).toBe(404);
  });

  it("logs JSON lines without the secret, and stops cleanly on SIGTERM", async () => {
    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
    proc.kill("SIGTERM");
    expect(await exited).toBe(0);
    const lines = stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { msg: string; service: string });
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(["ingest listening", "github delivery", "stopped"]));
    expect(lines.every((l) => l.service === "ingest")).toBe(true);
    expect(stdout).not.toContain(SECRET);
  });
});
