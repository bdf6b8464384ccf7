import { createVerify, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { onRequest, type Recorded } from "./http-request.js";

/**
 * A stand-in for the parts of GitHub's REST API oneshot calls (GitHub cannot be reached from
 * here). It checks what the real API checks: the App JWT's RS256 signature and its iat/exp/iss
 * claims, installation tokens on the runner calls, the generate-jitconfig body, duplicate
 * runner names (409). Every call is recorded, without credentials.
 */
export type FakeGitHubCall = Recorded;

export interface FakeGitHub {
  url: string;
  calls: FakeGitHubCall[];
  /** Configs handed out, by runner name (what a VM's runner would receive). */
  jitConfigs: Map<string, string>;
  /** Installation tokens handed out (each one a POST /app/installations/{id}/access_tokens that passed). */
  tokensIssued(): number;
  /** Make the next generate-jitconfig calls fail with this status (e.g. 422, 429; a 429 carries `retry-after: 30` unless headers say otherwise). */
  failNext(status: number, times?: number, headers?: Record<string, string>): void;
  close(): Promise<void>;
}

const b64url = (s: string) => Buffer.from(s, "base64url");

function verifyAppJwt(auth: string | undefined, appId: string, publicKeyPem: string): string | undefined {
  // The auth scheme is case-insensitive (octokit sends `bearer`).
  if (!auth || !/^bearer /i.test(auth)) return "missing bearer JWT";
  const parts = auth.slice(7).trim().split(".");
  if (parts.length !== 3) return "malformed JWT";
  const [h, p, sig] = parts as [string, string, string];
  let header: { alg?: string };
  let claims: { iat?: number; exp?: number; iss?: string | number };
  try {
    header = JSON.parse(b64url(h).toString()) as typeof header;
    claims = JSON.parse(b64url(p).toString()) as typeof claims;
  } catch {
    return "malformed JWT";
  }
  if (header.alg !== "RS256") return "JWT alg must be RS256";
  const ok = createVerify("RSA-SHA256").update(`${h}.${p}`).verify(publicKeyPem, b64url(sig));
  if (!ok) return "JWT signature does not verify";
  const now = Math.floor(Date.now() / 1000);
  if (String(claims.iss) !== appId) return `JWT iss ${String(claims.iss)} is not the App id`;
  if (typeof claims.iat !== "number" || claims.iat > now + 60) return "JWT iat is in the future";
  if (typeof claims.exp !== "number" || claims.exp <= now) return "JWT has expired";
  if (claims.exp - claims.iat > 11 * 60) return "JWT lifetime is over 10 minutes";
  return undefined;
}

export async function startFakeGitHub(o: { appId: string; publicKeyPem: string }): Promise<FakeGitHub> {
  const calls: FakeGitHubCall[] = [];
  /** Installation token → its installation and expiry, like GitHub's one-hour tokens. */
  const tokens = new Map<string, { installationId: number; expiresAt: number }>();
  const names = new Set<string>();
  const jitConfigs = new Map<string, string>();
  let failing: { status: number; times: number; headers: Record<string, string> } | undefined;
  let runnerId = 1000;
  const server = createServer(
    onRequest(calls, (req, path, body, send) => {
      const token = /^POST \/app\/installations\/(\d+)\/access_tokens$/.exec(`${req.method} ${path}`);
      if (token) {
        const why = verifyAppJwt(req.headers.authorization, o.appId, o.publicKeyPem);
        if (why) return send(401, { message: why });
        const t = `ghs_${randomBytes(18).toString("hex")}`;
        const expiresAt = Date.now() + 3600_000;
        tokens.set(t, { installationId: Number(token[1]), expiresAt });
        return send(201, { token: t, expires_at: new Date(expiresAt).toISOString(), permissions: { organization_self_hosted_runners: "write", administration: "write" } });
      }
      const jit = /^POST \/(orgs\/[^/]+|repos\/[^/]+\/[^/]+)\/actions\/runners\/generate-jitconfig$/.exec(`${req.method} ${path}`);
      if (jit) {
        const auth = req.headers.authorization ?? "";
        const t = auth.replace(/^(token|bearer) /i, "");
        const known = tokens.get(t);
        if (!known || known.expiresAt <= Date.now()) return send(401, { message: "Bad credentials (installation token required)" });
        if (failing && failing.times > 0) {
          failing.times--;
          return send(failing.status, { message: `injected ${failing.status}` }, failing.headers);
        }
        const b = body as { name?: unknown; runner_group_id?: unknown; labels?: unknown; work_folder?: unknown };
        const labelsOk = Array.isArray(b?.labels) && b.labels.length >= 1 && b.labels.length <= 100 && b.labels.every((l) => typeof l === "string");
        if (typeof b?.name !== "string" || b.name.length < 1 || b.name.length > 64 || !Number.isInteger(b.runner_group_id) || !labelsOk || (b.work_folder !== undefined && typeof b.work_folder !== "string")) {
          return send(422, { message: "Validation Failed" });
        }
        if (names.has(b.name)) return send(409, { message: "Already exists - A runner with the name already exists." });
        names.add(b.name);
        const cfg = Buffer.from(JSON.stringify({ runner: b.name, labels: b.labels, nonce: randomBytes(8).toString("hex") })).toString("base64");
        jitConfigs.set(b.name, cfg);
        return send(201, { runner: { id: ++runnerId, name: b.name, os: "linux", status: "offline", busy: false, labels: (b.labels as string[]).map((name) => ({ name })) }, encoded_jit_config: cfg });
      }
      send(404, { message: "Not Found" });
    }),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    jitConfigs,
    tokensIssued: () => tokens.size,
    failNext: (status, times = 1, headers) => void (failing = { status, times, headers: headers ?? (status === 429 ? { "retry-after": "30" } : {}) }),
    close: () => new Promise((r) => server.close(() => r())),
  };
}
