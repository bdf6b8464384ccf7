import { describe, expect, it } from "vitest";
import { configDriveBytes, configDriveFiles, scriptLaunch } from "./config-drive.js";
import { vmNetFor } from "../net/vm-address.js";
import { brokerLaunches, providerNames } from "../testing/fixtures.js";

const local = { source: "script" as const, jobId: "loc-1", hostname: "oneshot-abc", timeoutSec: 90, launch: scriptLaunch(), script: "echo hi\nexit 3\n" };
const runner = {
  source: "runner" as const,
  jobId: "job-1",
  hostname: "h",
  timeoutSec: 60,
  launch: {
    argv: ["/opt/actions-runner/run.sh", "--once", "two words"],
    env: { RUNNER_SECRET: "s3cr3t-value", URL: "https://x/?a=b c" },
    user: "runner" as const,
  },
};
const text = (f: Record<string, { content: string }>) => Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v.content]));

describe("config drive content (guest contract v2)", () => {
  it("writes the fixed files, the script and the script's launch (root, /bin/sh on the drive's script)", () => {
    expect(text(configDriveFiles(local))).toEqual({
      version: "2\n",
      kind: "script\n",
      "job-id": "loc-1\n",
      hostname: "oneshot-abc\n",
      "timeout-sec": "90\n",
      script: "echo hi\nexit 3\n",
      "launch/argv": "/bin/sh\n/run/oneshot/cfg/oneshot/script\n",
      "launch/env": "",
      "launch/user": "root\n",
    });
  });

  it("adds hostd's env lines and the static network", () => {
    const f = text(configDriveFiles({ ...local, env: { A: "1", B_2: "x y=z" }, net: vmNetFor("abc", "172.30.0.0/16", "172.30.0.7", "10.0.0.2") }));
    expect(f.env).toBe("A=1\nB_2=x y=z\n");
    expect(f.net).toBe("address=172.30.0.7/16\ngateway=172.30.0.1\ndns=10.0.0.2\n");
  });

  it("writes a runner launch one argument per line; its env, where the secret is, only to launch/env with mode 0600", () => {
    const f = configDriveFiles(runner);
    expect(f["launch/argv"]).toEqual({ content: "/opt/actions-runner/run.sh\n--once\ntwo words\n", mode: 0o644 });
    expect(f["launch/env"]).toEqual({ content: "RUNNER_SECRET=s3cr3t-value\nURL=https://x/?a=b c\n", mode: 0o600 });
    expect(f["launch/user"]!.content).toBe("runner\n");
    expect(f.kind!.content).toBe("runner\n");
    expect(f.script).toBeUndefined();
    for (const [name, file] of Object.entries(f)) if (name !== "launch/env") expect(file.content, name).not.toContain("s3cr3t-value");
  });

  it("lays out every provider's launch the same way: the drive's names and hostd's files name no provider", () => {
    const provider = new RegExp(providerNames().join("|"), "i");
    for (const { launch } of brokerLaunches("s3cr3t")) {
      const f = configDriveFiles({ ...runner, launch });
      expect(Object.keys(f).sort()).toEqual(["hostname", "job-id", "kind", "launch/argv", "launch/env", "launch/user", "timeout-sec", "version"]);
      for (const name of ["version", "kind", "job-id", "hostname", "timeout-sec", "launch/user"]) expect(f[name]!.content).not.toMatch(provider);
      expect(f["launch/env"]!.mode).toBe(0o600);
      expect(f["launch/argv"]!.content).not.toContain("s3cr3t");
    }
    expect(Object.keys(configDriveFiles(local)).join(" ")).not.toMatch(provider);
  });

  it("refuses what the guest could misread, never quoting a value", () => {
    expect(() => configDriveFiles({ ...local, hostname: "Bad_Name" })).toThrow(/hostname/);
    expect(() => configDriveFiles({ ...local, env: { A: "1\nB=2" } })).toThrow(/one line/);
    expect(() => configDriveFiles({ ...local, env: { "A-B": "1" } })).toThrow(/variable name/);
    expect(() => configDriveFiles({ ...runner, launch: { ...runner.launch, env: { S: "top\nsecret" } } })).toThrow(/^launch env S: values are one line/);
    expect(() => configDriveFiles({ ...runner, launch: { ...runner.launch, env: { S: "top\nsecret" } } })).not.toThrow(/secret/);
    expect(() => configDriveFiles({ ...runner, launch: { ...runner.launch, argv: ["/bin/sh", "-c\nx"] } })).toThrow(/argv\[1\].*newline/);
    expect(() => configDriveFiles({ ...runner, launch: { ...runner.launch, argv: [] } })).toThrow(/empty/);
    const { script: _s, ...noScript } = local;
    expect(() => configDriveFiles(noScript)).toThrow(/script/);
    expect(() => configDriveFiles({ ...runner, script: "echo" })).toThrow(/no inline script/);
  });

  it("sizes the image in whole MiB with room for a 256 KiB script", () => {
    expect(configDriveBytes(configDriveFiles(local))).toBe(2 * 1024 * 1024);
    const big = configDriveBytes(configDriveFiles({ ...local, script: "x".repeat(256 * 1024) }));
    expect(big % (1024 * 1024)).toBe(0);
    expect(big).toBeGreaterThan(1024 * 1024 + 2 * 256 * 1024);
  });
});
