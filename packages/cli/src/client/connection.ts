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
  /** The identity the CLI uses against that stack (admin), and the 0600 file with its password. */
  natsUser: z.string().optional(),
  natsPasswordFile: z.string().optional(),
});
export type UpInfo = z.infer<typeof UpInfo>;

export function readUpInfo(): UpInfo | undefined {
  const f = upFile();
  if (!existsSync(f)) return undefined;
  const parsed = UpInfo.safeParse(JSON.parse(readFileSync(f, "utf8")));
  return parsed.success ? parsed.data : undefined;
}

/** NATS_USER/NATS_PASSWORD, else the identity the running `oneshot up` made for the CLI. */
export function natsIdentity(): { user?: string; password?: string } {
  if (process.env.NATS_USER) return { user: process.env.NATS_USER, ...(process.env.NATS_PASSWORD ? { password: process.env.NATS_PASSWORD } : {}) };
  const up = readUpInfo();
  if (!up?.natsUser || !up.natsPasswordFile || !existsSync(up.natsPasswordFile)) return {};
  if (process.env.NATS_URL && process.env.NATS_URL !== up.natsUrl) return {};
  return { user: up.natsUser, password: readFileSync(up.natsPasswordFile, "utf8").trim() };
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

export async function connect(): Promise<{ nats: Nats; store: EventStore; close: () => Promise<void> }> {
  const log = createLogger("cli", { level: process.env.ONESHOT_CLI_LOG_LEVEL ?? "warn", fd: 2 });
  const url = natsUrl();
  try {
    const nats = await connectNats(
      { url, name: "oneshot-cli", ...natsIdentity(), firstConnectTimeoutMs: 3_000 },
      log,
    );
    return { nats, store: new EventStore(nats.js, nats.jsm), close: () => nats.nc.close() };
  } catch {
    throw new CliError(`cannot reach NATS at ${url}: start the stack with \`oneshot up\` or set NATS_URL`);
  }
}

/** An error printed as one line with what to do; exit code 2 unless given. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(message: string, readonly exitCode = 2) {
    super(message);
  }
}
