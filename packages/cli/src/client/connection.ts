import { existsSync, readFileSync } from "node:fs";
import { EventStore, connectNats, createLogger, type Nats } from "@oneshot/runtime";
import { z } from "zod";
import { upFile } from "../stack/paths.js";

/** What `oneshot up` writes, and what the other commands read when no env var says otherwise. */
export const UpInfo = z.object({
  natsUrl: z.string(),
  ingestUrl: z.string(),
  apiToken: z.string(),
  pid: z.number().int(),
  hosts: z.array(z.string()),
  /** The identity the CLI uses against that stack (admin), its NKey seed file (0600) and the CA. */
  natsUser: z.string().optional(),
  natsNkeyFile: z.string().optional(),
  natsCaFile: z.string().optional(),
  /** The read-only identity the CLI's read commands use. */
  auditUser: z.string().optional(),
  auditNkeyFile: z.string().optional(),
  /** The dashboard's web app (its admin token is in the state dir's dashboard-admin-token). */
  dashboardUrl: z.string().optional(),
});
export type UpInfo = z.infer<typeof UpInfo>;

export function readUpInfo(): UpInfo | undefined {
  const f = upFile();
  if (!existsSync(f)) return undefined;
  const parsed = UpInfo.safeParse(JSON.parse(readFileSync(f, "utf8")));
  return parsed.success ? parsed.data : undefined;
}

export interface NatsIdentity {
  user?: string;
  password?: string;
  nkeySeedFile?: string;
  caFile?: string;
}

/**
 * NATS_USER with NATS_NKEY_FILE or NATS_PASSWORD (and NATS_CA_FILE for TLS), else the identity
 * the running `oneshot up` made for the CLI: admin, or the read-only audit identity when the
 * command only reads (`readOnly`).
 */
export function natsIdentity(readOnly = false): NatsIdentity {
  const env = process.env;
  const ca = env.NATS_CA_FILE ? { caFile: env.NATS_CA_FILE } : {};
  if (env.NATS_USER || env.NATS_NKEY_FILE) {
    return {
      ...(env.NATS_USER ? { user: env.NATS_USER } : {}),
      ...ca,
      ...(env.NATS_NKEY_FILE ? { nkeySeedFile: env.NATS_NKEY_FILE } : env.NATS_PASSWORD ? { password: env.NATS_PASSWORD } : {}),
    };
  }
  const up = readUpInfo();
  if (!up || (env.NATS_URL && env.NATS_URL !== up.natsUrl)) return ca;
  const upCa = up.natsCaFile ? { caFile: up.natsCaFile } : ca;
  if (readOnly && up.auditUser && up.auditNkeyFile && existsSync(up.auditNkeyFile)) return { user: up.auditUser, nkeySeedFile: up.auditNkeyFile, ...upCa };
  if (up.natsUser && up.natsNkeyFile && existsSync(up.natsNkeyFile)) return { user: up.natsUser, nkeySeedFile: up.natsNkeyFile, ...upCa };
  return upCa;
}

/** NATS_URL, else the running `oneshot up`, else the default. */
export function natsUrl(): string {
  return process.env.NATS_URL ?? readUpInfo()?.natsUrl ?? "nats://127.0.0.1:4222";
}

export function ingestTarget(): { url: string; token: string } {
  const up = readUpInfo();
  const url = process.env.ONESHOT_URL ?? up?.ingestUrl ?? "http://127.0.0.1:8080";
  const token = process.env.ONESHOT_API_TOKEN ?? up?.apiToken;
  if (!token) throw new CliError("no API token: set ONESHOT_API_TOKEN, or start the stack with `oneshot up`");
  return { url, token };
}

/** Connects as the CLI's identity; `readOnly` commands use the audit identity when there is one. */
export async function connect(opts: { readOnly?: boolean } = {}): Promise<{ nats: Nats; store: EventStore; close: () => Promise<void> }> {
  const log = createLogger("cli", { level: process.env.ONESHOT_CLI_LOG_LEVEL ?? "warn", fd: 2 });
  const url = natsUrl();
  try {
    const nats = await connectNats({ url, name: "oneshot-cli", ...natsIdentity(opts.readOnly), firstConnectTimeoutMs: 3_000 }, log);
    return { nats, store: new EventStore(nats.js, nats.jsm), close: () => nats.nc.close() };
  } catch (e) {
    const why = (e as Error).message.replace(/^cannot reach NATS at [^ ]+ /, "");
    throw new CliError(
      `cannot reach NATS at ${url} ${why.startsWith("(") ? why.split(": is nats-server")[0] : `(${why})`}: start the stack with \`oneshot up\` or set NATS_URL (and NATS_USER, NATS_NKEY_FILE, NATS_CA_FILE)`,
    );
  }
}

/** An error printed as one line with what to do; exit code 2 unless given. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
  }
}
