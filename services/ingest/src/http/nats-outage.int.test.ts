import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing, waitFor } from "@oneshot/testing";
import { API_TOKEN, deliveryId, postGithub, startIngest, workflowJob, type IngestUnderTest } from "../../test/harness.js";

const skip = missing("nats");

describe.skipIf(skip)("ingest while NATS is down (real nats-server, stopped and restarted)", () => {
  let t: IngestUnderTest;
  beforeAll(async () => {
    t = await startIngest({ env: { INGEST_STORE_TIMEOUT_MS: "1500" } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("answers 503 (never 2xx) while NATS is stopped; after the restart the same delivery is stored once", async () => {
    const body = workflowJob("queued", 3001);
    const delivery = deliveryId();
    await t.natsServer.stop();
    const down = await postGithub(t.base, body, { delivery });
    expect(down.status).toBe(503);
    expect(down.headers.get("retry-after")).toBe("5");
    expect(await down.json()).toEqual({ error: "event store unavailable; deliver again later" });
    const job = await fetch(`${t.base}/v1/jobs`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ script: "true", vcpus: 1, memMiB: 256, timeoutSec: 60 }),
    });
    expect(job.status).toBe(503);

    await t.natsServer.restart();
    // GitHub redelivers the failed delivery (same id) until one attempt gets a 2xx.
    await waitFor("the redelivery to be accepted", async () => (await postGithub(t.base, body, { delivery })).status === 202, 30_000, 250);
    expect((await postGithub(t.base, body, { delivery })).status).toBe(202);
    expect((await postGithub(t.base, body)).status).toBe(202);
    expect(await t.history("gh-3001")).toEqual(["JobQueued"]);
    expect((await t.events("gh-3001"))[0]!.correlationId).toBe(delivery);
  });

  it("answers 202 when NATS comes back before the deadline", async () => {
    const slow = await startIngest({ natsServer: t.natsServer, env: { INGEST_STORE_TIMEOUT_MS: "9000" } });
    try {
      await t.natsServer.stop();
      const pending = postGithub(slow.base, workflowJob("queued", 3002));
      await t.natsServer.restart();
      expect((await pending).status).toBe(202);
      expect(await slow.history("gh-3002")).toEqual(["JobQueued"]);
    } finally {
      await slow.close();
    }
  });
});
