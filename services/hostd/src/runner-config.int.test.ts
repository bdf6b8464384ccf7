import { createHash, randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing } from "@oneshot/testing";
import { decode, encode, subjects, type RunnerConfigReply, type RunnerConfigRequest, type RunnerLaunch } from "@oneshot/proto";
import { sealedBox } from "@oneshot/runtime";
import { brokerLaunches } from "./testing/fixtures.js";
import { HostdHarness, missingImage } from "./testing/hostd-harness.js";

// Jobs without an inline script: hostd asks "ingest" (this test, answering
// rpc.runner.config.<hostId>) for a launch, opens the sealed RunnerLaunch with its private key
// and writes it only to the config drive. hostd and the agent know no provider: the launches
// are the broker's (fixtures/broker-launches.json, one for any provider); hostd never sees which.
// The minimal image's stand-in runner prints the secret's sha256 and checks no argv holds it.
const skip = missing("nats", "root", "qemu-x86", "nft") ?? missingImage("amd64");
const T = 300_000;

type Answer = { launch: RunnerLaunch } | { plaintext: string } | { refuse: true };

describe.skipIf(skip)("runner launches for jobs without a script (real hostd, fake broker over NATS request/reply)", () => {
  const h = new HostdHarness({ HOSTD_MAX_VCPUS: "2", HOSTD_MAX_MEM_MIB: "2048" });
  const secret = `jit-${randomBytes(24).toString("base64url")}`;
  const requests: RunnerConfigRequest["data"][] = [];
  const answers = new Map<string, Answer>();
  let hostKey = "";
  beforeAll(async () => {
    await h.start();
    hostKey = (h.events.find((e) => e.type === "HostRegistered")!.data as { publicKey: string }).publicKey;
    h.nats.nc.subscribe(subjects.runnerConfig(h.hostId), {
      callback: (_err, m) => {
        const req = decode(m.data).data as RunnerConfigRequest["data"];
        requests.push(req);
        const a = answers.get(req.jobId);
        const runnerName = `oneshot-${h.hostId}-${req.vmId}`;
        const result: RunnerConfigReply["data"]["result"] =
          !a || "refuse" in a
            ? { ok: false, code: "not-runnable", message: "job already finished" }
            : { ok: true, provider: "test", runnerName, sealed: sealedBox.seal("launch" in a ? JSON.stringify(a.launch) : a.plaintext, hostKey) };
        m.respond(
          encode(
            { type: "RunnerConfigReply", data: { jobId: req.jobId, result } },
            { id: randomBytes(8).toString("hex"), occurredAt: new Date().toISOString(), correlationId: "ingest", causationId: null },
          ),
        );
      },
    });
  }, T);
  afterAll(() => h.dispose(), T);

  const noSecretAnywhere = (vmId: string) => {
    expect(JSON.stringify(h.events)).not.toContain(secret);
    expect(h.logs).not.toContain(secret);
    expect(h.consoleText(vmId)).not.toContain(secret);
    expect(spawnSync("grep", ["-rl", secret, h.state]).stdout.toString()).toBe("");
  };

  const launches = brokerLaunches(secret);
  const launchRunning = (argv0: string) => launches.find((l) => l.launch.argv[0] === argv0)!.launch;

  it(
    "requests the launch with the host's key; the secret reaches the runner only through its environment",
    async () => {
      const jobId = `job-${randomBytes(6).toString("hex")}`;
      // The minimal image's stand-in sits where the broker's launch expects the Actions runner.
      answers.set(jobId, { launch: launchRunning("/opt/actions-runner/run.sh") });
      const { vmId } = await h.schedule({ jobId });
      await h.waitEvent("VmDestroyed", vmId);
      expect(h.vmEvents(vmId).find((e) => e.type === "VmExited")!.data).toMatchObject({ exitCode: 0, reason: "exited" });
      expect(requests).toContainEqual({ hostId: h.hostId, jobId, vmId, publicKey: hostKey });
      const sha = createHash("sha256").update(secret).digest("hex");
      // user=root: the minimal image has no user runner.
      await expect.poll(() => h.consoleText(vmId), { timeout: 10_000 }).toContain(`jitconfig bytes=${secret.length} sha256=${sha}`);
      expect(h.consoleText(vmId)).toMatch(/^ONESHOT-JOB-START kind=runner job=\S+ user=root mac=[0-9a-f]{64}\r?$/m);
      expect(h.logs).toMatch(/"provider":"test".*"msg":"runner launch received"/);
      noSecretAnywhere(vmId);
      expect(h.leftovers(vmId)).toEqual([]);
    },
    T,
  );

  it(
    "runs any argv the broker sends: a runner program the image lacks is an agent error naming it",
    async () => {
      const jobId = `job-${randomBytes(6).toString("hex")}`;
      // A broker's launch (its env holds the secret) naming, by PATH lookup, a program this image lacks.
      const launch = { ...launches[0]!.launch, argv: ["oneshot-absent-runner", "run-single"] };
      answers.set(jobId, { launch });
      const { vmId } = await h.schedule({ jobId });
      const failed = await h.waitEvent("VmBootFailed", vmId);
      expect(failed.data).toMatchObject({ code: "agent-error", reason: expect.stringContaining(`launch: ${launch.argv[0]} is not in this image`) });
      expect(failed.data.consoleTail).not.toContain(secret);
      await h.waitEvent("VmDestroyed", vmId);
      noSecretAnywhere(vmId);
      expect(h.leftovers(vmId)).toEqual([]);
    },
    T,
  );

  it(
    "fails the boot with code runner-config when the broker refuses",
    async () => {
      const jobId = `job-${randomBytes(6).toString("hex")}`;
      answers.set(jobId, { refuse: true });
      const { vmId } = await h.schedule({ jobId });
      const failed = await h.waitEvent("VmBootFailed", vmId);
      expect(failed.data).toMatchObject({ code: "runner-config" });
      expect(failed.data.reason).toMatch(/not-runnable/);
      await h.waitEvent("VmDestroyed", vmId);
      expect(h.leftovers(vmId)).toEqual([]);
    },
    T,
  );

  it.each([
    ["not JSON", { plaintext: secret }],
    ["not a RunnerLaunch (secret argument on a second line)", { launch: { argv: ["/bin/sh", `-c\n${secret}`], env: {}, user: "runner" } }],
    ["not a RunnerLaunch (unknown user)", { launch: { argv: ["/opt/actions-runner/run.sh"], env: { S: secret }, user: "admin" as "root" } }],
  ] as [string, Answer][])(
    "fails terminally on a malformed launch: %s (one request, job and VM named, plaintext never echoed)",
    async (_what, answer) => {
      const jobId = `job-${randomBytes(6).toString("hex")}`;
      answers.set(jobId, answer);
      const { vmId } = await h.schedule({ jobId });
      const failed = await h.waitEvent("VmBootFailed", vmId);
      expect(failed.data).toMatchObject({ code: "runner-config" });
      expect(failed.data.reason).toContain(`job ${jobId} on VM ${vmId}`);
      expect(failed.data.reason).toMatch(/malformed|one argument per line/);
      expect(h.vmEvents(vmId).map((e) => e.type)).not.toContain("VmBooted");
      await h.waitEvent("VmDestroyed", vmId);
      expect(requests.filter((r) => r.jobId === jobId)).toHaveLength(1);
      noSecretAnywhere(vmId);
      expect(h.leftovers(vmId)).toEqual([]);
    },
    T,
  );
});
