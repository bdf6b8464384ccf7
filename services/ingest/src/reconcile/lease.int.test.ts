import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { subjects } from "@oneshot/proto";
import { parseConfig } from "@oneshot/runtime";
import { natsAvailability, waitFor } from "@oneshot/testing";
import { capturingLogger, startIngest, type IngestUnderTest } from "../../test/harness.js";
import { IngestEnv } from "../config.js";
import { startReconcile } from "./start.js";

const nats = natsAvailability();

describe.skipIf(nats.kind === "none")(`two ingest replicas: one reconciler acts${nats.kind === "none" ? ` (skipped: ${nats.reason})` : ""}`, () => {
  let t: IngestUnderTest;
  beforeAll(async () => void (t = await startIngest()));
  afterAll(async () => void (await t?.close()));

  it("a local job's VmIdle is retired once, by the lease holder, without asking anything", async () => {
    const config = parseConfig(IngestEnv, { RECONCILE_LEASE_TTL: "6", RECONCILE_INTERVAL: "1" });
    const replicas = await Promise.all(
      [0, 1].map(async () => {
        const registry = new Registry();
        const l = capturingLogger();
        const r = await startReconcile({
          config,
          nats: t.nats,
          store: t.store,
          log: l.log,
          registry,
          onFatal: (e) => {
            throw e;
          },
        });
        return { r: r!, registry, lines: l.lines };
      }),
    );
    const leaders = await Promise.all(replicas.map(async (x) => (await x.registry.getSingleMetric("reconcile_leader")!.get()).values[0]!.value));
    expect(leaders.sort()).toEqual([0, 1]);
    await t.store.append(
      {
        type: "JobQueued",
        data: {
          jobId: "lo-1",
          source: { provider: "local", repo: "local", org: "local", providerJobId: "lo-1", labels: [] },
          spec: { arch: "amd64", vcpus: 1, memMiB: 512, diskGiB: 5, image: "minimal", timeoutSec: 60 },
          script: "true",
        },
      },
      { correlationId: "c-lo-1" },
    );
    await t.store.append(
      {
        type: "VmIdle",
        data: { hostId: "h9", vmId: "vm9", bootedForJobId: "lo-1", runnerName: "oneshot-h9-vm9", reason: "its job ended", candidateJobIds: [] },
      },
      { correlationId: "c-lo-1" },
    );
    const retired = await waitFor(
      "VmRetired",
      async () => (await t.store.readAggregate(subjects.host("h9"))).events.filter((e) => e.type === "VmRetired").at(0),
      10_000,
    );
    await new Promise((r) => setTimeout(r, 2_500)); // two more passes of each replica
    expect((await t.store.readAggregate(subjects.host("h9"))).events.filter((e) => e.type === "VmRetired")).toHaveLength(1);
    expect(retired.data).toMatchObject({ hostId: "h9", vmId: "vm9", reason: expect.stringMatching(/^local job lo-1: no provider API to ask/) });
    expect(retired.correlationId).toBe("c-lo-1");
    const decisions = replicas.map((x) => x.lines.filter((l) => l.includes('"reconcile decision"')).length);
    expect(decisions.sort()).toEqual([0, 1]);
    for (const x of replicas) await x.r.stop();
  });
});
