import { generateKeyPairSync } from "node:crypto";
import { ConfigError, parseConfig } from "@oneshot/runtime";
import { describe, expect, it } from "vitest";
import { IngestEnv, githubAppCredentials } from "./config.js";

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();

describe("ingest configuration", () => {
  it("has working defaults", () => {
    const c = parseConfig(IngestEnv, {});
    expect(c).toMatchObject({
      INGEST_PORT: 8080,
      GITHUB_API_URL: "https://api.github.com",
      INGEST_MAX_BODY_BYTES: 256 * 1024,
      INGEST_JOB_MAX_BODY_BYTES: 1024 * 1024,
      INGEST_MAX_IN_FLIGHT: 256,
      GITHUB_RUNNER_GROUP_ID: 1,
      INGEST_STORE_TIMEOUT_MS: 5000,
    });
    expect(c.INGEST_HTTP_PORT).toBeUndefined();
    expect(githubAppCredentials(c)).toBeUndefined();
  });

  it.each([
    [{ INGEST_PORT: "http" }, "INGEST_PORT"],
    [{ INGEST_MAX_BODY_BYTES: "10" }, "INGEST_MAX_BODY_BYTES"],
    [{ GITHUB_API_URL: "not a url" }, "GITHUB_API_URL"],
    [{ INGEST_DEFAULT_VCPUS: "64", INGEST_MAX_VCPUS: "32" }, "INGEST_DEFAULT_VCPUS"],
    [{ INGEST_DEFAULT_MEM_GIB: "256" }, "INGEST_DEFAULT_MEM_GIB"],
    [{ GITHUB_APP_ID: "123" }, "GITHUB_APP_PRIVATE_KEY_FILE"],
    [{ GITHUB_APP_ID: "my app" }, "GITHUB_APP_ID"],
    [{ INGEST_DEFAULT_ARCH: "x86" }, "INGEST_DEFAULT_ARCH"],
    [{ INGEST_STORE_TIMEOUT_MS: "20000" }, "INGEST_STORE_TIMEOUT_MS"],
  ])("names the variable at fault: %j", (env, variable) => {
    expect(() => parseConfig(IngestEnv, env)).toThrow(expect.objectContaining({ variable }));
  });

  it("treats empty variables as unset (compose writes VAR= for unset ones)", () => {
    const c = parseConfig(IngestEnv, {
      GITHUB_APP_ID: "",
      GITHUB_APP_PRIVATE_KEY_FILE: "/run/secrets/github-app-key",
      INGEST_HTTP_PORT: "",
      GITLAB_API_TOKEN: "",
    });
    expect(c.GITHUB_APP_ID).toBeUndefined();
    expect(
      githubAppCredentials(c, () => {
        throw new Error("must not read the key without an App");
      }),
    ).toBeUndefined();
  });

  it("reads and checks the App key once, naming the variable and never the key", () => {
    const fromFile = parseConfig(IngestEnv, { GITHUB_APP_ID: "4242", GITHUB_APP_PRIVATE_KEY_FILE: "/keys/app.pem" });
    expect(githubAppCredentials(fromFile, () => rsa)).toEqual({ appId: "4242", privateKey: rsa });
    const missing = (path: string) => {
      throw Object.assign(new Error(`ENOENT ${path}`), { code: "ENOENT" });
    };
    expect(() => githubAppCredentials(fromFile, missing)).toThrow(new ConfigError("GITHUB_APP_PRIVATE_KEY_FILE", "cannot read /keys/app.pem (ENOENT)"));
    const inline = parseConfig(IngestEnv, { GITHUB_APP_ID: "Iv23liAbC", GITHUB_APP_PRIVATE_KEY: rsa.replace(/\n/g, "\\n") });
    expect(githubAppCredentials(inline)?.privateKey).toBe(rsa);
    const bad = parseConfig(IngestEnv, {
      GITHUB_APP_ID: "4242",
      GITHUB_APP_PRIVATE_KEY: "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END PRIVATE KEY-----",
    });
    const e = (() => {
      try {
        githubAppCredentials(bad);
      } catch (x) {
        return x as ConfigError;
      }
    })();
    expect(e).toMatchObject({ variable: "GITHUB_APP_PRIVATE_KEY" });
    expect(e?.message).not.toContain("c2VjcmV0");
  });
});
