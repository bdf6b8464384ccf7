import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { missing } from "@oneshot/testing";
import { deliveryId, sign, startIngest, type IngestUnderTest } from "../../test/harness.js";

// What a slow or hostile client can hold of ingest: requests in flight are capped (503 with
// retry-after beyond), and with an ops port the internet-facing port serves no /metrics.
const skip = missing("nats");

describe.skipIf(skip)("ingest HTTP limits (real nats-server, real node:http)", () => {
  let t: IngestUnderTest | undefined;
  afterEach(async () => t?.close());

  it("with an ops port set, /metrics is not served on the webhook port (/healthz still is)", async () => {
    t = await startIngest({ env: { INGEST_HTTP_PORT: "9999" } });
    expect((await fetch(`${t.base}/metrics`)).status).toBe(404);
    expect((await fetch(`${t.base}/healthz`)).status).toBe(200);
  });

  it("answers 503 with retry-after once INGEST_MAX_IN_FLIGHT requests trickle in, and takes work again when they go", async () => {
    t = await startIngest({ env: { INGEST_MAX_IN_FLIGHT: "2" } });
    const { hostname, port } = new URL(t.base);
    // Two deliveries that send their headers and then a body that never ends.
    const slow = [0, 1].map(() => {
      const req = request({
        host: hostname,
        port,
        path: "/webhooks/github",
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "workflow_job",
          "x-github-delivery": deliveryId(),
          "x-hub-signature-256": sign("{}"),
          "content-length": "5000",
        },
      });
      req.on("error", () => undefined);
      req.write("{");
      return req;
    });
    await new Promise((r) => setTimeout(r, 300));
    const refused = await fetch(`${t.base}/webhooks/github`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("5");
    for (const r of slow) r.destroy();
    await new Promise((r) => setTimeout(r, 300));
    // A free slot again: this one is judged on its merits (unsigned → 401), not refused for load.
    const after = await fetch(`${t.base}/webhooks/github`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-github-event": "workflow_job", "x-github-delivery": deliveryId() },
      body: "{}",
    });
    expect(after.status).not.toBe(503);
  });
});
