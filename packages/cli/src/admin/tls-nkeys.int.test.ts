import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect as natsConnect, nkeyAuthenticator } from "@nats-io/transport-node";
import { createUser } from "@nats-io/nkeys";
import { EventStore, connectNats, createLogger } from "@oneshot/runtime";
import { freePort, missing, startNats, type TestNats } from "@oneshot/testing";
import { ensureIdentities, seedFileOf } from "./identities.js";
import { natsConfig } from "./nats-config.js";
import { ensurePki } from "./pki.js";
import { bootstrap } from "./bootstrap.js";
import { provisionAll } from "./provision.js";

const repo = join(import.meta.dirname, "..", "..", "..", "..");

const skip = missing("nats");
const log = createLogger("test", { level: "silent" });

// What production runs (`oneshot admin bootstrap`): TLS with a private CA, NKey logins, no passwords.
describe.skipIf(skip)("NATS with TLS and NKeys, as generated (real nats-server)", () => {
  let server: TestNats;
  let dir: string;
  let ca: string;
  const hosts = ["metal-01", "metal-02"];
  const url = () => `tls://127.0.0.1:${server.port}`;
  const as = (identity: string, extra: { caFile?: string } = {}) =>
    connectNats(
      { url: url(), name: identity, user: identity, nkeySeedFile: seedFileOf(join(dir, "id"), identity), caFile: ca, firstConnectTimeoutMs: 2_000, ...extra },
      log,
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "oneshot-tls-"));
    const nkeys = ensureIdentities(join(dir, "id"), ["admin", "ingest", "scheduler", "janitor", ...hosts.map((h) => `hostd-${h}`), "audit"]);
    const pki = await ensurePki(join(dir, "tls"), ["127.0.0.1", "localhost"]);
    ca = pki.files.ca;
    const port = await freePort();
    const conf = join(dir, "nats.conf");
    writeFileSync(
      conf,
      natsConfig({ hosts, port, listen: "127.0.0.1", storeDir: join(dir, "js"), nkeys, tls: { certFile: pki.files.cert, keyFile: pki.files.key } }),
    );
    expect(readFileSync(conf, "utf8")).not.toMatch(/SU[A-Z2-7]{56}|password/);
    server = await startNats({ port, config: conf });
  });
  afterAll(async () => void (await server?.dispose()));

  it("lets each identity in with its own seed over verified TLS, with its own permissions", async () => {
    const h = await as("hostd-metal-01");
    await h.nc.flush();
    expect(h.nc.info?.tls_required).toBe(true);
    const denied = await h.js.publish("evt.host.metal-02.vm.x", new Uint8Array(1), { timeout: 2_000 }).then(
      () => "stored",
      (e: Error) => e.message,
    );
    expect(denied).not.toBe("stored");
    await h.nc.close();
  });

  it("refuses a client that does not trust the CA: the server's certificate is checked", async () => {
    const other = await ensurePki(join(dir, "other-ca"), ["127.0.0.1"]);
    await expect(as("hostd-metal-01", { caFile: other.files.ca })).rejects.toThrow(/cannot reach NATS/);
    // No CA at all: the system store does not know ours either.
    await expect(
      natsConnect({
        servers: url(),
        authenticator: nkeyAuthenticator(new TextEncoder().encode(readFileSync(seedFileOf(join(dir, "id"), "admin"), "utf8").trim())),
        maxReconnectAttempts: 0,
        timeout: 2_000,
      }),
    ).rejects.toThrow();
  });

  it("refuses an NKey the config does not list, and any password", async () => {
    const stranger = join(dir, "stranger.nk");
    writeFileSync(stranger, new TextDecoder().decode(createUser().getSeed()), { mode: 0o600 });
    await expect(
      connectNats({ url: url(), name: "x", user: "hostd-metal-01", nkeySeedFile: stranger, caFile: ca, firstConnectTimeoutMs: 2_000 }, log),
    ).rejects.toThrow(/authoriz|authenticat|cannot reach/i);
    await expect(connectNats({ url: url(), name: "x", user: "admin", password: "guess", caFile: ca, firstConnectTimeoutMs: 2_000 }, log)).rejects.toThrow(
      /authoriz|authenticat|cannot reach/i,
    );
  });

  it("runs the README's audit subscriber (docs/examples/audit-subscriber.mjs) as the audit identity", async () => {
    const admin = await as("admin");
    await provisionAll(admin, hosts, log);
    await new EventStore(admin.js, admin.jsm).append({ type: "HostCordoned", data: { hostId: "metal-01", reason: "audit me" } }, { correlationId: "audit" });
    await admin.nc.close();
    const r = spawnSync(process.execPath, [join(repo, "docs", "examples", "audit-subscriber.mjs"), "--once"], {
      cwd: repo,
      encoding: "utf8",
      timeout: 20_000,
      env: { ...process.env, NATS_URL: url(), NATS_CA_FILE: ca, NATS_NKEY_FILE: seedFileOf(join(dir, "id"), "audit"), NATS_USER: "audit" },
    });
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^\d+ evt\.host\.metal-01 HostCordoned \{"hostId":"metal-01","reason":"audit me"\}$/m);
  });

  it("refuses plaintext: a client that will not do TLS is not served", async () => {
    const r = await natsConnect({ servers: url(), tls: null, maxReconnectAttempts: 0, timeout: 2_000 } as never).then(
      () => "connected",
      (e: Error) => e.message,
    );
    expect(r).not.toBe("connected");
  });
});

describe("oneshot admin bootstrap", () => {
  it("writes a config with public keys and TLS, keeps keys on a re-run and adds a new host's", async () => {
    const d = mkdtempSync(join(tmpdir(), "oneshot-boot-"));
    await bootstrap({
      dir: d,
      hosts: ["metal-01"],
      audit: ["audit"],
      natsNames: ["nats.example.internal", "10.0.0.5"],
      containerUid: process.getuid?.() ?? 1000,
    });
    const seed = readFileSync(join(d, "identities", "hostd-metal-01.nk"), "utf8");
    const cert = readFileSync(join(d, "tls", "server.pem"), "utf8");
    const conf = readFileSync(join(d, "nats.conf"), "utf8");
    expect(conf).toMatch(/nkey: "U[A-Z2-7]{55}"/);
    expect(conf).toContain("sync_interval: always");
    expect(conf).toContain('cert_file: "/etc/nats/tls/server.pem"');
    expect(conf).not.toMatch(/SU[A-Z2-7]{56}|password/);
    const { X509Certificate } = await import("node:crypto");
    expect(new X509Certificate(cert).subjectAltName).toBe("IP Address:10.0.0.5, DNS:nats, DNS:nats.example.internal");
    await bootstrap({
      dir: d,
      hosts: ["metal-01", "metal-02"],
      audit: ["audit"],
      natsNames: ["nats.example.internal", "10.0.0.5"],
      containerUid: process.getuid?.() ?? 1000,
    });
    expect(readFileSync(join(d, "identities", "hostd-metal-01.nk"), "utf8")).toBe(seed);
    expect(readFileSync(join(d, "tls", "server.pem"), "utf8")).toBe(cert);
    expect(readFileSync(join(d, "nats.conf"), "utf8")).toContain("# hostd-metal-02");
  });
});
