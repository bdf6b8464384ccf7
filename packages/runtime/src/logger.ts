import { pino, type Logger } from "pino";

export type { Logger };

/** Paths never written to a log line: secrets and whole request bodies. */
export const redactPaths = [
  "secret",
  "*.secret",
  "token",
  "*.token",
  "password",
  "*.password",
  "privateKey",
  "*.privateKey",
  "jitConfig",
  "*.jitConfig",
  "encodedJitConfig",
  "*.encodedJitConfig",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "headers.cookie",
  'headers["x-gitlab-token"]',
  "body",
  "*.body",
  "sealed",
  "*.sealed",
  // A local job's script is the user's data (it may hold what they pasted into a command line):
  // the event log keeps it for replay, log lines never do.
  "script",
  "*.script",
  "env",
  "*.env",
  "launch",
  "*.launch",
];

/** One root logger per process; bind `{jobId, hostId, vmId}` with `.child()`. */
export function createLogger(
  service: string,
  opts: { level?: string; pretty?: boolean; /** 1 = stdout (services), 2 = stderr (the CLI, whose stdout is data) */ fd?: 1 | 2 } = {},
): Logger {
  const base = { level: opts.level ?? "info", base: { service }, redact: { paths: redactPaths, censor: "[redacted]" } };
  if (opts.pretty) {
    try {
      return pino({ ...base, transport: { target: "pino-pretty", options: { colorize: true } } });
    } catch {
      // pino-pretty is a dev dependency: fall back to JSON lines.
    }
  }
  return opts.fd === 2 ? pino(base, pino.destination({ fd: 2, sync: true })) : pino(base);
}
