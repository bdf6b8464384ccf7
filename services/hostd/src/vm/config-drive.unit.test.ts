import { describe, expect, it } from "vitest";
import { configDriveBytes, configDriveFiles } from "./config-drive.js";
import { vmNetFor } from "../net/vm-address.js";

const local = { kind: "local" as const, jobId: "loc-1", hostname: "oneshot-abc", timeoutSec: 90, script: "echo hi\nexit 3\n" };
const text = (f: Record<string, { content: string }>) => Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v.content]));

describe("config drive content (guest contract v1)", () => {
  it("writes the fixed files and the local script", () => {
    expect(text(configDriveFiles(local))).toEqual({
      version: "1\n", kind: "local\n", "job-id": "loc-1\n", hostname: "oneshot-abc\n", "timeout-sec": "90\n", script: "echo hi\nexit 3\n",
    });
  });

  it("adds env lines and the static network", () => {
    const f = text(configDriveFiles({ ...local, env: { A: "1", B_2: "x y=z" }, net: vmNetFor("abc", "172.30.0.0/16", "172.30.0.7", "10.0.0.2") }));
    expect(f.env).toBe("A=1\nB_2=x y=z\n");
    expect(f.net).toBe("address=172.30.0.7/16\ngateway=172.30.0.1\ndns=10.0.0.2\n");
  });

  it("puts runner secrets only under runner/, mode 0600, and no script", () => {
    const gh = configDriveFiles({ kind: "github", jobId: "gh-1", hostname: "h", timeoutSec: 60, runner: { kind: "github", jitConfig: "ZW5jb2RlZA==" } });
    expect(gh["runner/jitconfig"]).toEqual({ content: "ZW5jb2RlZA==\n", mode: 0o600 });
    expect(gh.script).toBeUndefined();
    const gl = configDriveFiles({ kind: "gitlab", jobId: "gl-1", hostname: "h", timeoutSec: 60, runner: { kind: "gitlab", url: "https://gl", token: "glrt-x" } });
    expect(text(gl)).toMatchObject({ "runner/gitlab-url": "https://gl\n", "runner/gitlab-token": "glrt-x\n" });
  });

  it("refuses what the guest could misread: bad hostname, multi-line env, missing script or runner config", () => {
    expect(() => configDriveFiles({ ...local, hostname: "Bad_Name" })).toThrow(/hostname/);
    expect(() => configDriveFiles({ ...local, env: { A: "1\nB=2" } })).toThrow(/one line/);
    expect(() => configDriveFiles({ ...local, env: { "A-B": "1" } })).toThrow(/variable name/);
    const { script: _s, ...noScript } = local;
    expect(() => configDriveFiles(noScript)).toThrow(/script/);
    expect(() => configDriveFiles({ kind: "github", jobId: "gh-1", hostname: "h", timeoutSec: 60 })).toThrow(/runner config/);
  });

  it("sizes the image in whole MiB with room for a 256 KiB script", () => {
    expect(configDriveBytes(configDriveFiles(local))).toBe(2 * 1024 * 1024);
    const big = configDriveBytes(configDriveFiles({ ...local, script: "x".repeat(256 * 1024) }));
    expect(big % (1024 * 1024)).toBe(0);
    expect(big).toBeGreaterThan(1024 * 1024 + 2 * 256 * 1024);
  });
});
