import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNats, createLogger } from "@oneshot/runtime";
import { missing, waitFor } from "@oneshot/testing";
import { startUp, type UpStack } from "./harness.js";

// `oneshot up --nats-cluster 3`: three nats-server processes (TLS between nodes and to clients,
// NKeys, streams at R3) and every service with all three URLs. A job runs in a real VM while
// the node leading EVENTS is killed (SIGKILL): the job ends once with its exit code, nothing is
// restarted but the node (by the supervisor, as compose would), and the next job runs.
const skip = missing("nats", "root", "qemu-x86", "nft");

describe.skipIf(skip)("the stack on a 3-node NATS cluster while its EVENTS leader dies", () => {
  let stack: UpStack;
  beforeAll(async () => {
    stack = await startUp({ args: ["--nats-cluster", "3"] });
  }, 900_000);
  afterAll(async () => void (await stack?.stop()));

  it("finishes a running job once, with its exit code, after the EVENTS leader is killed", async () => {
    const up = JSON.parse(readFileSync(join(stack.state, "up.json"), "utf8")) as { natsUrl: string; natsCaFile: string; natsNkeyFile: string };
    expect(up.natsUrl.split(",")).toHaveLength(3);
    const admin = await connectNats(
      { url: up.natsUrl, name: "e2e-admin", user: "admin", nkeySeedFile: up.natsNkeyFile, caFile: up.natsCaFile },
      createLogger("e2e", { level: "silent" }),
    );
    const info = await admin.jsm.streams.info("EVENTS");
    expect(info.config.num_replicas).toBe(3);
    const run = stack.cli(["run", "--mem", "256m", "--", "sh", "-c", "sleep 10; echo survived; exit 5"]);
    await waitFor("the VM to boot", async () => (await stack.events()).some((e) => e.type === "VmBooted"), 300_000, 500);
    const leader = (await admin.jsm.streams.info("EVENTS")).cluster!.leader!; // "n2"
    const node = `nats-${leader.slice(1)}`;
    const pid = stack.pid(node)!;
    await admin.nc.close();
    const services = ["ingest", "scheduler", "janitor", "hostd-amd64"].map((s) => [s, stack.pid(s)] as const);
    process.kill(pid, "SIGKILL");
    const r = await run;
    expect(r.stdout, `code ${r.code}; stderr:\n${r.stderr}\nhostd said:\n${stack.logs("hostd-amd64").split("\n").slice(-40).join("\n")}`).toContain("survived");
    expect(r.code, r.stderr).toBe(5);
    const jobId = /queued (\S+)/.exec(r.stderr)![1]!;
    const types = (await stack.events(["--job", jobId])).map((e) => e.type);
    for (const t of ["JobQueued", "JobScheduled", "VmBootRequested", "VmBooted", "VmExited", "VmDestroyed", "JobCompleted"]) {
      expect(
        types.filter((x) => x === t),
        `${t} in ${types.join(",")}`,
      ).toHaveLength(1);
    }
    // No service needed a restart: each reconnected to the nodes left.
    for (const [s, p] of services) expect(stack.pid(s), s).toBe(p);
    expect(stack.logs(node)).toBeTruthy();
    await waitFor(`${node} restarted`, () => (stack.pid(node) ?? pid) !== pid, 60_000, 250);
    const again = await stack.cli(["run", "--mem", "256m", "-q", "--", "sh", "-c", "exit 0"]);
    expect(again.code, again.stderr).toBe(0);
    console.log(JSON.stringify({ e2e: "nats-cluster", killed: node, jobMs: Math.round(r.ms) }));
  }, 900_000);
});
