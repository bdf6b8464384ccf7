import { spawnSync } from "node:child_process";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, missing, startNats, type TestNats } from "@oneshot/testing";

// The built process, as an operator starts it: a port someone else holds stops it with one
// line that names the address, what it was for and why, and exit 69 — no stack trace.
const skip = missing("nats");
const main = join(import.meta.dirname, "..", "..", "dist", "main.js");

describe.skipIf(skip)("ingest that cannot listen", () => {
  let server: TestNats;
  let holder: Server;
  let taken: number;
  beforeAll(async () => {
    server = await startNats();
    taken = await freePort();
    holder = createServer();
    await new Promise<void>((r) => holder.listen(taken, "127.0.0.1", r));
  });
  afterAll(async () => {
    holder?.close();
    await server?.dispose();
  });

  const start = (env: Record<string, string>) =>
    spawnSync(process.execPath, [main], {
      env: { ...process.env, NATS_URL: server.url, ONESHOT_API_TOKEN: "t", INGEST_HOST: "127.0.0.1", LOG_LEVEL: "error", ...env },
      encoding: "utf8",
      timeout: 30_000,
    });

  it.each([
    [
      "its webhook port",
      { INGEST_PORT: "TAKEN" },
      /^oneshot-ingest: cannot listen on 127\.0\.0\.1:\d+ for webhooks and the job API \(INGEST_PORT\): the address is in use/,
    ],
    [
      "its ops port",
      { INGEST_PORT: "FREE", INGEST_HTTP_PORT: "TAKEN" },
      /^oneshot-ingest: cannot listen on \S+:\d+ for health and metrics: the address is in use/,
    ],
  ])("stops with one line when %s is taken", async (_what, env, line) => {
    const free = String(await freePort());
    const r = start(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === "TAKEN" ? String(taken) : free])));
    expect(r.status).toBe(69);
    const text = r.stderr.trim();
    expect(text).toMatch(line);
    expect(text.split("\n")).toHaveLength(1);
    expect(text).not.toMatch(/\n\s+at /);
  });
});
