import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { encode, subjects, type DomainEvent } from "@oneshot/proto";
import { examples } from "../../../../proto/src/examples.js";
import { connectNats, createLogger, newEventId, type Nats } from "@oneshot/runtime";
import { missing, waitFor } from "@oneshot/testing";
import { startUp, type UpStack } from "./harness.js";

// The whole stack under `oneshot up` (TLS, NKeys, one identity per service), two hosts: the
// native one runs a victim's job in a real VM while an attacker holding the OTHER host's NKey
// (root on that metal host, or a VM escape there) tries everything its credential allows to
// stop, steal or steer the fleet. Afterwards the victim's job has finished with its own exit
// code, the victim host is as it was, every service is alive, and new jobs still run.
const skip =
  missing("nats", "root", "qemu-x86", "qemu-arm", "nft") ??
  (process.arch === "arm64" ? "needs an amd64 machine (the attacker host is the emulated arm64 one)" : undefined);
if (skip) process.stderr.write(`SKIP (compromised-host e2e): ${skip}\n`);

const log = createLogger("attacker", { level: "silent" });
const meta = () => ({ id: newEventId(), occurredAt: new Date().toISOString(), correlationId: "attack", causationId: null });

describe.skipIf(skip)("a compromised host cannot stop or steer the fleet (oneshot up, TLS + NKeys)", () => {
  let stack: UpStack;
  let attacker: Nats;
  const victim = "local-amd64";
  const evil = "local-arm64-emulated";

  beforeAll(async () => {
    stack = await startUp({ args: ["--emulate-arch", "arm64"], env: { HOSTD_MAX_VCPUS: "2", HOSTD_MAX_MEM_MIB: "2048" } });
    attacker = await connectNats(
      {
        url: JSON.parse(await import("node:fs").then((fs) => fs.readFileSync(join(stack.state, "up.json"), "utf8"))).natsUrl,
        name: "attacker",
        user: `hostd-${evil}`,
        nkeySeedFile: join(stack.state, "nats-identities", `hostd-${evil}.nk`),
        caFile: join(stack.state, "tls", "ca.pem"),
      },
      log,
    );
  }, 900_000);
  afterAll(async () => {
    await attacker?.nc.close().catch(() => undefined);
    await stack?.stop();
  });

  /** "stored" or the refusal: what NATS said to the attacker. */
  const publish = (subject: string, e: DomainEvent | { type: string; data: unknown }) =>
    attacker.js.publish(subject, encode(e as DomainEvent, meta()), { timeout: 3_000 }).then(
      () => "stored",
      (err: Error) => err.message,
    );

  it("leaves a running job, its VM and its host alone whatever the other host's credential writes", async () => {
    const run = stack.cli(["run", "--arch", "amd64", "--mem", "256m", "--", "sh", "-c", "sleep 20; echo victim-done; exit 4"]);
    const booted = await waitFor(
      "the victim's VM to boot",
      async () => (await stack.events(["--host", victim])).find((e) => e.type === "VmBooted"),
      300_000,
      500,
    );
    const { vmId, jobId } = booted.data as { vmId: string; jobId: string };
    const hostsBefore = (await stack.cli(["hosts", "list", "--json"])).stdout;

    const results: Record<string, string> = {
      // A valid catalog message that is not an event (it used to halt the scheduler and janitor for good).
      heartbeatAsEvent: await publish(subjects.hostSelf(evil), { type: "HostHeartbeat", data: { ...examples.HostHeartbeat, hostId: evil } }),
      // Speaking for the victim host on its own subject.
      deregisterVictim: await publish(subjects.hostSelf(evil), { type: "HostDeregistered", data: { hostId: victim, reason: "attack" } }),
      registerVictimHuge: await publish(subjects.hostSelf(evil), {
        type: "HostRegistered",
        data: { ...examples.HostRegistered, hostId: victim, capacity: { vcpus: 4096, memMiB: 4_194_304, diskGiB: 100_000 } },
      }),
      cancelVictimJob: await publish(subjects.hostSelf(evil), { type: "JobCancelled", data: { jobId, reason: "attack" } }),
      queueScriptOnHost: await publish(subjects.hostSelf(evil), { type: "JobQueued", data: { ...examples.JobQueued, jobId: "evil-1" } }),
      // Subjects its credential does not cover at all.
      queueScript: await publish(subjects.job("evil-2"), { type: "JobQueued", data: { ...examples.JobQueued, jobId: "evil-2" } }),
      placeOnItself: await publish(subjects.host(evil), { type: "JobScheduled", data: { ...examples.JobScheduled, jobId, hostId: evil } }),
      cordonVictim: await publish(subjects.host(victim), { type: "HostCordoned", data: { hostId: victim, reason: "attack" } }),
      destroyVictimVm: await publish(subjects.vm(victim, vmId), { type: "VmDestroyed", data: { ...examples.VmDestroyed, hostId: victim, vmId, jobId } }),
      // Its own VM subject, naming the victim's VM.
      exitVictimVm: await publish(subjects.vm(evil, vmId), { type: "VmExited", data: { ...examples.VmExited, hostId: victim, vmId, jobId, exitCode: 0 } }),
    };
    expect(results).toMatchObject({
      queueScript: expect.stringMatching(/permission/i),
      placeOnItself: expect.stringMatching(/permission/i),
      cordonVictim: expect.stringMatching(/permission/i),
      destroyVictimVm: expect.stringMatching(/permission/i),
    });
    // The rest is stored (its subject is the attacker's own) but must change nothing.

    // The victim's work consumer and other identities' replies are out of reach too.
    const jsm = await jetstreamManager(attacker.nc, { checkAPI: false });
    expect(
      await jsm.consumers.delete("EVENTS", `hostd-${victim}`).then(
        () => "deleted",
        (e: Error) => e.message,
      ),
    ).toMatch(/permission/i);

    const r = await run;
    expect(r.stdout).toContain("victim-done");
    expect(r.code, r.stderr).toBe(4);
    const jobTypes = (await stack.events(["--job", jobId])).map((e) => e.type);
    expect(jobTypes).not.toContain("JobCancelled");
    expect(jobTypes).not.toContain("JobRequeued");
    expect(jobTypes.filter((t) => t === "JobScheduled")).toHaveLength(1);
    const vm = (await stack.events(["--host", victim]))
      .filter((e) => e.type.startsWith("Vm") && (e.data as { vmId?: string }).vmId === vmId)
      .map((e) => e.type);
    expect(vm).toEqual(["VmBootRequested", "VmBooted", "VmExited", "VmDestroyed"]);
    // Same hosts, same capacity, same status: nothing the attacker wrote was applied.
    const hostsAfter = (await stack.cli(["hosts", "list", "--json"])).stdout;
    const strip = (s: string) =>
      s
        .split("\n")
        .filter(Boolean)
        .map((l) => {
          const { used: _used, vms: _vms, ...h } = JSON.parse(l) as Record<string, unknown>;
          return h;
        });
    expect(strip(hostsAfter)).toEqual(strip(hostsBefore));
    // The services read the misplaced messages, reported them, and kept going.
    for (const svc of ["scheduler", "janitor", "ingest", "hostd-amd64", "hostd-arm64"]) expect(stack.pid(svc), svc).toBeGreaterThan(0);
    expect(stack.logs("scheduler")).toMatch(/misplaced/);
    const again = await stack.cli(["run", "--arch", "amd64", "--mem", "256m", "-q", "--", "sh", "-c", "exit 0"]);
    expect(again.code, again.stderr).toBe(0);
  }, 900_000);
});
