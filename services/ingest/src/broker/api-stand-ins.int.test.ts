import { createSign, generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeGitHub, startFakeGitLab, type FakeGitHub, type FakeGitLab } from "@oneshot/testing";

// The API stand-ins must refuse what GitHub and GitLab refuse, or the broker tests prove nothing.
const app = generateKeyPairSync("rsa", { modulusLength: 2048 });
const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
function jwt(claims: Record<string, unknown>, o: { alg?: string; key?: typeof app.privateKey } = {}): string {
  const head = `${b64url({ alg: o.alg ?? "RS256", typ: "JWT" })}.${b64url(claims)}`;
  return `${head}.${createSign("RSA-SHA256")
    .update(head)
    .sign(o.key ?? app.privateKey)
    .toString("base64url")}`;
}
const now = () => Math.floor(Date.now() / 1000);

describe("GitHub API stand-in", () => {
  let gh: FakeGitHub;
  beforeAll(async () => {
    gh = await startFakeGitHub({ appId: "4242", publicKeyPem: app.publicKey.export({ type: "spki", format: "pem" }).toString() });
  });
  afterAll(async () => {
    await gh?.close();
  });
  const token = (auth: string) =>
    fetch(`${gh.url}/app/installations/42/access_tokens`, { method: "POST", headers: { authorization: auth, accept: "application/vnd.github+json" } });
  const jit = (auth: string, body: unknown, path = "/orgs/acme/actions/runners/generate-jitconfig") =>
    fetch(`${gh.url}${path}`, { method: "POST", headers: { authorization: auth, "content-type": "application/json" }, body: JSON.stringify(body) });

  it("issues an installation token only for a JWT signed by the App's key with valid iat/exp/iss", async () => {
    const good = { iat: now() - 60, exp: now() + 540, iss: "4242" };
    expect((await token(`Bearer ${jwt(good)}`)).status).toBe(201);
    const refused: [string, string][] = [
      ["another key", `Bearer ${jwt(good, { key: generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey })}`],
      ["another App", `Bearer ${jwt({ ...good, iss: "999" })}`],
      ["expired", `Bearer ${jwt({ ...good, iat: now() - 700, exp: now() - 60 })}`],
      ["issued in the future", `Bearer ${jwt({ ...good, iat: now() + 300, exp: now() + 600 })}`],
      ["living over 10 minutes", `Bearer ${jwt({ ...good, exp: now() + 3600 })}`],
      ["alg none", `Bearer ${jwt(good, { alg: "none" })}`],
      ["not a JWT", "Bearer abc.def"],
      ["garbage segments", "Bearer !!!.???.###"],
      ["no credentials", ""],
    ];
    for (const [what, auth] of refused) expect((await token(auth)).status, what).toBe(401);
  });

  it("mints JIT configs only with an installation token and a valid body, once per runner name", async () => {
    const { token: t } = (await (await token(`Bearer ${jwt({ iat: now() - 60, exp: now() + 540, iss: "4242" })}`)).json()) as { token: string };
    const body = { name: "oneshot-h-abc", runner_group_id: 1, labels: ["oneshot"], work_folder: "_work" };
    expect((await jit(`Bearer ${jwt({ iat: now() - 60, exp: now() + 540, iss: "4242" })}`, body)).status).toBe(401); // the App JWT is not enough
    expect((await jit(`token ${t}`, { ...body, labels: [] })).status).toBe(422);
    expect((await jit(`token ${t}`, { ...body, runner_group_id: "1" })).status).toBe(422);
    expect((await jit(`token ${t}`, { ...body, name: "x".repeat(65) })).status).toBe(422);
    const ok = await jit(`token ${t}`, body);
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ runner: { name: "oneshot-h-abc" }, encoded_jit_config: gh.jitConfigs.get("oneshot-h-abc") });
    expect((await jit(`token ${t}`, body)).status).toBe(409);
    expect((await jit(`token ${t}`, { ...body, name: "oneshot-h-def" }, "/repos/alice/dots/actions/runners/generate-jitconfig")).status).toBe(201);
    expect(JSON.stringify(gh.calls)).not.toContain(t);
  });
});

describe("GitLab API stand-in", () => {
  let gl: FakeGitLab;
  beforeAll(async () => {
    gl = await startFakeGitLab({ token: "glpat-x" });
  });
  afterAll(async () => {
    await gl?.close();
  });
  const call = (method: string, path: string, body?: unknown, token = "glpat-x") =>
    fetch(`${gl.url}/api/v4${path}`, {
      method,
      headers: { "private-token": token, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });

  it("checks the token, serves job tags, creates and deletes runners as GitLab validates them", async () => {
    gl.setJobTags(1, 2, ["oneshot"]);
    expect((await call("GET", "/projects/1/jobs/2", undefined, "wrong")).status).toBe(401);
    expect(await (await call("GET", "/projects/1/jobs/2")).json()).toMatchObject({ tag_list: ["oneshot"] });
    expect((await call("GET", "/projects/1/jobs/3")).status).toBe(404);
    expect((await call("POST", "/user/runners", { runner_type: "bogus" })).status).toBe(400);
    expect((await call("POST", "/user/runners", { runner_type: "project_type" })).status).toBe(400);
    const created = (await (await call("POST", "/user/runners", { runner_type: "project_type", project_id: 1, tag_list: ["oneshot"] })).json()) as {
      id: number;
      token: string;
    };
    expect(created.token).toMatch(/^glrt-/);
    expect((await call("DELETE", `/runners/${created.id}`)).status).toBe(204);
    expect((await call("DELETE", `/runners/${created.id}`)).status).toBe(404);
  });
});
