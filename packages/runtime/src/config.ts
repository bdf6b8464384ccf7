import { z } from "zod";
import { ConfigError } from "./errors.js";

const bool = z.enum(["1", "0", "true", "false", "yes", "no", ""]).transform((v) => v === "1" || v === "true" || v === "yes");

/** Variables every service reads. Services extend this with their own, each commented. */
export const BaseEnv = z.object({
  /** Where NATS listens; comma-separated for a cluster. */
  NATS_URL: z
    .string()
    .regex(/^(nats|tls|ws|wss):\/\/[^\s]+$/, "must look like nats://host:port")
    .default("nats://127.0.0.1:4222"),
  /**
   * This service's NATS identity name (compose gives each service its own). It names the
   * reply inbox `_INBOX_<name>`; with NATS_PASSWORD it is also the login name.
   */
  NATS_USER: z.string().optional(),
  /** Password login (development stacks and tests). Production uses NATS_NKEY_FILE. */
  NATS_PASSWORD: z.string().optional(),
  /** A file holding this identity's NKey seed (`oneshot admin bootstrap` makes one per identity). */
  NATS_NKEY_FILE: z.string().min(1).optional(),
  /** The CA certificate (PEM) that signed nats-server's certificate: connects with TLS and verifies it. */
  NATS_CA_FILE: z.string().min(1).optional(),
  /** trace | debug | info | warn | error | fatal */
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal"]).default("info"),
  /** Human-readable logs instead of JSON lines (needs pino-pretty). */
  LOG_PRETTY: bool.default(false),
  /** Directory for anything kept on disk (keys, VM run dirs, nats data under `oneshot up`). */
  ONESHOT_STATE_DIR: z.string().min(1).default(".state"),
});
export type BaseEnv = z.infer<typeof BaseEnv>;

export const envBool = bool;
/** An integer from an environment string, with bounds. */
export const envInt = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Parses the environment; throws ConfigError naming the first bad variable. */
export function parseConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): z.infer<S> {
  const res = schema.safeParse(env);
  if (res.success) return res.data;
  const issue = res.error.issues[0]!;
  throw new ConfigError(issue.path.join(".") || "(environment)", issue.message);
}

/** Parses once at start; a bad value stops the process with one line naming the variable. */
export function loadConfig<S extends z.ZodType>(service: string, schema: S, env = process.env): z.infer<S> {
  try {
    return parseConfig(schema, env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`oneshot-${service}: invalid configuration: ${e.message}\n`);
    process.exit(78); // EX_CONFIG
  }
}
