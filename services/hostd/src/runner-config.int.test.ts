import { createHash, randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing } from "@oneshot/testing";
import { decode, encode, subjects, type RunnerConfigReply, type RunnerConfigRequest } from "@oneshot/proto";
import { sealedBox } from "@oneshot/runtime";
import { HostdHarness, missingImage } from "./testing/hostd-harness.js";

// GitHub jobs: hostd asks "ingest" (this test, answering rpc.runner.config.<hostId>) for the
// just-in-time runner config, opens the sealed reply with its private key and writes it only to
// the config drive; the minimal image's stand-in runner prints the config's sha256.
const skip = missing("nats", "root", "qemu-x86", "nft") ?? missingImage("amd64");
const T = 300_000;

describe.skipIf(skip)("runner configs for GitHub jobs (real hostd, fake ingest over NATS request/reply)", () => {
  const h = new HostdHarness({ HOSTD_MAX_VCPUS: "2", HOSTD_MAX_MEM_MIB: "2048" });
  const secret = `jit-${randomBytes(24).toString("base64url")}`;
  const requests: RunnerConfigRequest["data"][] = [];
  const refuse = new Set<string>();
  beforeAll(async () => {
    await h.start();
    const hostKey = (h.events.find((e) => e.type === "HostRegistered")!.data as { publicKey: string }).publicKey;
    h.nats.nc.subscribe(subjects.runnerConfig(h.hostId), {
      callback: (_err, m) => {
        const req = decode(m.data).data as RunnerConfigRequest["data"];
        requests.push(req);
        const result: RunnerConfigReply["data"]["result"] = refuse.has(req.jobId)
          ? { ok: false, code: "not-runnable", message: "job already finished" }
          : req.jobId.startsWith("gl-")
            ? { ok: true, kind: "gitlab", runnerName: `oneshot-${req.vmId}`, sealed: sealedBox.seal(JSON.stringify({ url: "https://gitlab.example", token: secret }), hostKey) }
            : { ok: true, kind: "github", runnerName: `oneshot-${req.vmId}`, sealed: sealedBox.seal(secret, hostKey) };
        m.respond(encode({ type: "RunnerConfigReply", data: { jobId: req.jobId, result } }, { id: randomBytes(8).toString("hex"), occurredAt: new Date().toISOString(), correlationId: "ingest", causationId: null }));
      },
    });
  }, T);
  afterAll(() => h.dispose(), T);

  it("requests the config with the host's key, and only the config drive carries the plaintext", async () => {
    const { jobId, vmId } = await h.schedule({ jobId: `gh-${Date.now()}`, script: "" });
    await h.waitEvent("VmDestroyed", vmId);
    expect(h.vmEvents(vmId).find((e) => e.type === "VmExited")!.data).toMatchObject({ exitCode: 0, reason: "exited" });
    const hostKey = (h.events.find((e) => e.type === "HostRegistered")!.data as { publicKey: string }).publicKey;
    expect(requests).toContainEqual({ hostId: h.hostId, jobId, vmId, publicKey: hostKey });
    const sha = createHash("sha256").update(secret).digest("hex");
    await expect.poll(() => h.consoleText(vmId), { timeout: 10_000 }).toContain(`jitconfig bytes=${secret.length} sha256=${sha}`);
    // Nowhere else: not in an event, not in hostd's logs, not on the console, not on disk.
    expect(JSON.stringify(h.events)).not.toContain(secret);
    expect(h.logs).not.toContain(secret);
    expect(h.consoleText(vmId)).not.toContain(secret);
    expect(spawnSync("grep", ["-rl", secret, h.state]).stdout.toString()).toBe("");
    expect(h.leftovers(vmId)).toEqual([]);
  }, T);

  it("writes a GitLab job's url and token for gitlab-runner (the minimal image has none: the agent says so)", async () => {
    const { vmId } = await h.schedule({ jobId: `gl-${Date.now()}`, script: "" });
    const failed = await h.waitEvent("VmBootFailed", vmId);
    // The agent checks runner/gitlab-token first, then looks for gitlab-runner.
    expect(failed.data).toMatchObject({ code: "agent-error", reason: expect.stringMatching(/no gitlab-runner/) });
    expect(failed.data.consoleTail).not.toContain(secret);
    await h.waitEvent("VmDestroyed", vmId);
    expect(JSON.stringify(h.events)).not.toContain(secret);
    expect(h.leftovers(vmId)).toEqual([]);
  }, T);

  it("fails the boot with code runner-config when ingest refuses", async () => {
    const jobId = `gh-${Date.now() + 1}`;
    refuse.add(jobId);
    const { vmId } = await h.schedule({ jobId, script: "" });
    const failed = await h.waitEvent("VmBootFailed", vmId);
    expect(failed.data).toMatchObject({ code: "runner-config" });
    expect(failed.data.reason).toMatch(/not-runnable/);
    await h.waitEvent("VmDestroyed", vmId);
    expect(h.leftovers(vmId)).toEqual([]);
  }, T);
});
