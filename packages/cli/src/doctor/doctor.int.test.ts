import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser } from "@nats-io/nkeys";
import { connectNats, createLogger } from "@oneshot/runtime";
import { freePort, missing, startNats, type TestNats } from "@oneshot/testing";
import { ensureIdentities, seedFileOf } from "../admin/identities.js";
import { natsConfig } from "../admin/nats-config.js";
import { ensurePki } from "../admin/pki.js";
import { provisionAll } from "../admin/provision.js";
import type { Finding } from "./verdict.js";

const repo = join(import.meta.dirname, "..", "..", "..", "..");
const cliMain = join(repo, "packages", "cli", "dist", "main.js");
const notBuilt = (why: string) => (process.stderr.write(`SKIP (build): ${why}\n`), why);
const skip = missing("nats") ?? (existsSync(cliMain) ? undefined : notBuilt(`${cliMain} missing: run \`npm run build\` first`));
const faketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

interface Doctor {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The real `oneshot doctor`, as a user runs it, with only the given NATS variables. */
function doctor(args: string[], env: Record<string, string>): Promise<Doctor> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(NATS_|HOSTD_|ONESHOT_)/.test(k)));
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cliMain, "doctor", ...args], { env: { ...clean, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}
const findings = (r: Doctor) => (JSON.parse(r.stdout) as { verdict: string; findings: Finding[] }).findings;
const byCheck = (r: Doctor, check: string) => findings(r).find((f) => f.check === check);

describe.skipIf(skip)("oneshot doctor against a real nats-server with TLS and NKeys", () => {
  let server: TestNats;
  let dir: string;
  let ca: string;
  const hosts = ["metal-01"];
  const as = (user: string, extra: Record<string, string> = {}) => ({
    NATS_URL: `tls://127.0.0.1:${server.port}`,
    NATS_USER: user,
    NATS_NKEY_FILE: seedFileOf(join(dir, "id"), user),
    NATS_CA_FILE: ca,
    ONESHOT_STATE_DIR: join(dir, "state"),
    ...extra,
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "oneshot-doctor-"));
    const nkeys = ensureIdentities(join(dir, "id"), ["admin", "ingest", "scheduler", "janitor", "hostd-metal-01", "audit"]);
    const pki = await ensurePki(join(dir, "tls"), ["127.0.0.1", "localhost"]);
    ca = pki.files.ca;
    const port = await freePort();
    const conf = join(dir, "nats.conf");
    writeFileSync(
      conf,
      natsConfig({
        hosts,
        port,
        listen: "127.0.0.1",
        storeDir: join(dir, "js"),
        audit: ["audit"],
        nkeys,
        tls: { certFile: pki.files.cert, keyFile: pki.files.key },
      }),
    );
    server = await startNats({ port, config: conf });
    const admin = await connectNats(
      { url: `tls://127.0.0.1:${port}`, name: "admin", user: "admin", nkeySeedFile: seedFileOf(join(dir, "id"), "admin"), caFile: ca },
      createLogger("test", { level: "silent" }),
    );
    await provisionAll(admin, hosts, createLogger("test", { level: "silent" }));
    await admin.nc.close();
  });
  afterAll(async () => {
    await server?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("reaches NATS over verified TLS as the audit identity, measures the clock, and reports this machine's accelerator", async () => {
    const r = await doctor(["--json"], as("audit"));
    expect(r.stderr).toBe("");
    const nats = byCheck(r, "nats")!;
    expect(nats).toMatchObject({ verdict: "ok" });
    expect(nats.detail).toMatch(/as audit over TLS \(the server's certificate verified against NATS_CA_FILE\), NKey login/);
    const clock = byCheck(r, "clock")!;
    expect(clock.verdict).toBe("ok");
    expect(clock.detail).toMatch(/^local clock \d+\.\d{3} s (ahead of|behind) the NATS server's \(±\d+ ms, a consumer's creation time on EVENTS\)$/);
    const kvm = byCheck(r, "kvm")!;
    console.log(`doctor on this machine: ${kvm.verdict} ${kvm.detail}`);
    if (!existsSync("/dev/kvm") || !/\b(vmx|svm)\b/.test(await import("node:fs").then((fs) => fs.readFileSync("/proc/cpuinfo", "utf8")))) {
      expect(kvm.verdict).toBe("warn");
      expect(kvm.detail).toMatch(/^TCG: guests run under QEMU software emulation, slowly; why: .+/);
      expect(kvm.fix).toBeTruthy();
    }
    for (const c of ["qemu.amd64", "qemu.arm64", "images.amd64", "images.arm64", "nftables", "taps", "bridge", "cgroup"])
      expect(byCheck(r, c), c).toBeDefined();
    // The exit code follows the verdicts: 1 exactly when some check failed.
    expect(r.code).toBe(findings(r).some((f) => f.verdict === "fail") ? 1 : 0);
  });

  it("leaves no consumer behind on EVENTS", async () => {
    const admin = await connectNats(
      { url: `tls://127.0.0.1:${server.port}`, name: "admin", user: "admin", nkeySeedFile: seedFileOf(join(dir, "id"), "admin"), caFile: ca },
      createLogger("test", { level: "silent" }),
    );
    const names: string[] = [];
    for await (const c of admin.jsm.consumers.list("EVENTS")) names.push(c.name);
    await admin.nc.close();
    expect(names.filter((n) => !/^hostd-/.test(n) && n !== "scheduler")).toEqual([]);
  });

  it("as a hostd identity (which may make no consumer): NATS ok, the clock measured only where the server stamps consumer info", async () => {
    const r = await doctor(["--json"], as("hostd-metal-01"));
    expect(byCheck(r, "nats")).toMatchObject({ verdict: "ok" });
    const clock = byCheck(r, "clock")!;
    if (clock.verdict === "warn")
      expect(clock.detail).toMatch(/cannot make a consumer on EVENTS \(.*[Pp]ermissions.*\), and this server does not stamp consumer info/);
    else expect(clock.detail).toMatch(/hostd-metal-01's consumer info/);
  });

  it("NATS unreachable: one clear FAIL line with the fix, exit 1", async () => {
    const port = await freePort();
    const r = await doctor(["--nats-timeout", "1"], as("audit", { NATS_URL: `tls://127.0.0.1:${port}` }));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^FAIL nats +cannot reach NATS at tls://127\\.0\\.0\\.1:${port} as audit: .*refused`, "m"));
    expect(r.stdout).toMatch(/^ +fix: nothing listens there: start nats-server/m);
    expect(r.stdout).toMatch(/^WARN clock +skew not measured: NATS unreachable/m);
    expect(r.stdout).toMatch(/\d+ ok, \d+ warnings, [1-9]\d* failed\n$/);
  });

  it("a CA that did not sign NATS's certificate: a failure that names NATS_CA_FILE", async () => {
    const other = await ensurePki(join(dir, "other-ca"), ["127.0.0.1"]);
    const r = await doctor(["--json", "--nats-timeout", "1"], as("audit", { NATS_CA_FILE: other.files.ca }));
    expect(r.code).toBe(1);
    const nats = byCheck(r, "nats")!;
    expect(nats.verdict).toBe("fail");
    expect(nats.fix).toMatch(/NATS_CA_FILE must be the CA that signed NATS's certificate/);
  });

  it("a seed NATS does not know, or another identity's seed: failures that say which", async () => {
    const stranger = join(dir, "stranger.nk");
    writeFileSync(stranger, new TextDecoder().decode(createUser().getSeed()), { mode: 0o600 });
    const unknown = await doctor(["--json", "--nats-timeout", "1"], as("audit", { NATS_NKEY_FILE: stranger }));
    expect(byCheck(unknown, "nats")).toMatchObject({ verdict: "fail", fix: expect.stringMatching(/NATS_USER and NATS_NKEY_FILE must be a pair/) });
    // ingest's seed under the name audit: NATS lets ingest in, and its replies never come to audit's inbox.
    const swapped = await doctor(["--json", "--nats-timeout", "1"], as("audit", { NATS_NKEY_FILE: seedFileOf(join(dir, "id"), "ingest") }));
    expect(swapped.code).toBe(1);
    expect(byCheck(swapped, "nats")).toMatchObject({
      verdict: "fail",
      fix: expect.stringMatching(/NATS_USER does not name the identity whose seed NATS_NKEY_FILE holds/),
    });
  });

  it.skipIf(!existsSync(faketime))("a clock an hour behind (libfaketime) fails with the skew it measured", async () => {
    const r = await doctor(["--json"], as("audit", { LD_PRELOAD: faketime, FAKETIME: "-1h", FAKETIME_DONT_FAKE_MONOTONIC: "1", FAKETIME_ONLY_CMDS: "node" }));
    const clock = byCheck(r, "clock")!;
    expect(clock.verdict).toBe("fail");
    const secs = Number(/local clock (\d+\.\d+) s behind/.exec(clock.detail)?.[1]);
    expect(Math.abs(secs - 3600)).toBeLessThan(5);
    expect(r.code).toBe(1);
  });

  it("--env-file fills in hostd's variables (a bad one is a config failure naming it)", async () => {
    const env = join(dir, "hostd.env");
    writeFileSync(env, `HOSTD_BRIDGE=this-name-is-far-too-long\nHOSTD_IMAGE_DIR=${join(dir, "no-images")}\n`);
    const r = await doctor(["--json", "--no-nats", "--env-file", env], {});
    expect(r.code).toBe(1);
    expect(byCheck(r, "config")).toMatchObject({ verdict: "fail", detail: expect.stringMatching(/^HOSTD_BRIDGE: must be a Linux interface name/) });
    expect(
      findings(r)
        .filter((f) => f.check.startsWith("images."))
        .map((f) => f.detail)
        .join("\n"),
    ).toContain(join(dir, "no-images"));
    expect(byCheck(r, "nats")).toBeUndefined();
  });
});
