import { spawn, spawnSync } from "node:child_process";
import { createHash, createSign, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeGitHub, type FakeGitHub } from "./fake-github.js";
import { waitFor } from "./wait.js";

// images/agent/stand-in-runner under busybox only (the applets the minimal image links), against
// the GitHub stand-in: the protocol the VM's runner speaks.
const script = join(import.meta.dirname, "..", "..", "..", "images", "agent", "stand-in-runner");
const busybox = spawnSync("sh", ["-c", "command -v busybox"], { encoding: "utf8" }).stdout.trim();
const app = generateKeyPairSync("rsa", { modulusLength: 2048 });
const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
function jwt(): string {
  const now = Math.floor(Date.now() / 1000);
  const head = `${b64url({ alg: "RS256", typ: "JWT" })}.${b64url({ iat: now - 60, exp: now + 540, iss: "4242" })}`;
  return `${head}.${createSign("RSA-SHA256").update(head).sign(app.privateKey).toString("base64url")}`;
}

function runScript(bin: string, config: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(join(bin, "sh"), [script], { env: { PATH: bin, ACTIONS_RUNNER_INPUT_JITCONFIG: config }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (out += d.toString()));
    p.once("exit", (code) => resolve({ code, out }));
  });
}

describe.skipIf(!busybox)("stand-in runner script (busybox sh) against the GitHub stand-in", () => {
  let gh: FakeGitHub;
  let bin: string;
  let token: string;
  beforeAll(async () => {
    bin = mkdtempSync(join(tmpdir(), "oneshot-bb-"));
    for (const a of spawnSync(busybox, ["--list"], { encoding: "utf8" }).stdout.split("\n").filter(Boolean)) symlinkSync(busybox, join(bin, a));
    gh = await startFakeGitHub({
      appId: "4242",
      publicKeyPem: app.publicKey.export({ type: "spki", format: "pem" }).toString(),
      runnerUrl: true,
      pollMs: 1000,
      reofferMs: 5000,
    });
    const r = await fetch(`${gh.url}/app/installations/42/access_tokens`, { method: "POST", headers: { authorization: `Bearer ${jwt()}` } });
    token = ((await r.json()) as { token: string }).token;
  });
  afterAll(async () => {
    await gh?.close();
    rmSync(bin, { recursive: true, force: true });
  });
  const mint = async (name: string) => {
    const r = await fetch(`${gh.url}/orgs/acme/actions/runners/generate-jitconfig`, {
      method: "POST",
      headers: { authorization: `token ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ name, runner_group_id: 1, labels: ["oneshot"] }),
    });
    return ((await r.json()) as { encoded_jit_config: string }).encoded_jit_config;
  };

  it("prints the digest, connects, runs the offered job's script, reports its exit code and exits 0", async () => {
    const cfg = await mint("oneshot-h-sh1");
    const run = runScript(bin, cfg);
    await waitFor("the runner online", () => gh.model.online(gh.runner("oneshot-h-sh1")!), 10_000);
    gh.queueJob({ id: 9001, repo: "acme/widgets", labels: ["oneshot"], script: 'echo "it\'s job $((4500 * 2 + 1))"; sleep 1; exit 4' });
    const { code, out } = await run;
    expect(out).toContain(`oneshot stand-in runner: jitconfig bytes=${Buffer.byteLength(cfg)} sha256=${createHash("sha256").update(cfg).digest("hex")}`);
    expect(out).toContain("it's job 9001");
    expect(out).toContain("job 9001 exited 4");
    expect(code).toBe(0);
    expect(gh.job(9001)).toMatchObject({ status: "completed", conclusion: "failure", runnerName: "oneshot-h-sh1" });
    expect(gh.runner("oneshot-h-sh1")?.removed).toBe(true);
  });

  it("exits when its registration is removed while it waits", async () => {
    const cfg = await mint("oneshot-h-sh2");
    const run = runScript(bin, cfg);
    await waitFor("the runner online", () => gh.model.online(gh.runner("oneshot-h-sh2")!), 10_000);
    gh.model.removeRunner(gh.runner("oneshot-h-sh2")!, true);
    const { code, out } = await run;
    expect(out).toContain("was removed");
    expect(code).toBe(0);
  });

  it("keeps the old behaviour: a config without a stand-in URL prints the digest and exits 0; an empty one exits 1", async () => {
    gh.setRunnerUrl(undefined);
    const cfg = await mint("oneshot-h-sh3");
    const r = await runScript(bin, cfg);
    expect([r.code, r.out.trim()]).toEqual([
      0,
      `oneshot stand-in runner: jitconfig bytes=${Buffer.byteLength(cfg)} sha256=${createHash("sha256").update(cfg).digest("hex")}`,
    ]);
    expect((await runScript(bin, "")).code).toBe(1);
  });
});
