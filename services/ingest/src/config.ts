import { BaseEnv, envInt } from "@oneshot/runtime";
import { readFileSync } from "node:fs";
import { z } from "zod";

const optional = z.string().optional().transform((v) => (v ? v : undefined));

/** ingest's configuration: environment only, parsed once at start. */
export const IngestEnv = BaseEnv.extend({
  /** HTTP port for webhooks, the job API, `/healthz` and `/metrics`. */
  INGEST_PORT: envInt(0, 65535).default(8080),
  /** Address to listen on. */
  INGEST_HOST: z.string().default("0.0.0.0"),
  /** GitHub App webhook secret; without it `/webhooks/github` answers 503 (not configured). */
  GITHUB_WEBHOOK_SECRET: optional,
  /** The previous secret, accepted too while a rotation is under way. */
  GITHUB_WEBHOOK_SECRET_PREVIOUS: optional,
  /** GitLab hook secret token; without it `/webhooks/gitlab` answers 503. */
  GITLAB_WEBHOOK_TOKEN: optional,
  /** GitLab base URL for the API (job tags, runner creation). */
  GITLAB_URL: z.string().url().default("https://gitlab.com"),
  /** GitLab token with `api` scope: reads a job's tags, creates one runner per job. */
  GITLAB_API_TOKEN: optional,
  /** Bearer token for `POST /v1/jobs` (the CLI); without it the job API is off (503). */
  ONESHOT_API_TOKEN: optional,
  /** GitHub's REST API base (GitHub Enterprise Server: https://HOST/api/v3). */
  GITHUB_API_URL: z.string().url().default("https://api.github.com"),
  /** The GitHub App's id (the JWT's `iss`). */
  GITHUB_APP_ID: optional,
  /** The App's private key (PEM), or a file holding it (`_FILE` wins). */
  GITHUB_APP_PRIVATE_KEY: optional,
  GITHUB_APP_PRIVATE_KEY_FILE: optional,
  /** Runner group the just-in-time runners join (1 = Default). */
  GITHUB_RUNNER_GROUP_ID: envInt(1, 2 ** 31).default(1),
  /** Bodies above this many bytes get 413 without being read to the end. */
  INGEST_MAX_BODY_BYTES: envInt(1024, 25 * 1024 * 1024).default(1024 * 1024),
  /** Size of a job labelled plain `oneshot`. */
  INGEST_DEFAULT_VCPUS: envInt(1, 256).default(2),
  INGEST_DEFAULT_MEM_GIB: envInt(1, 1024).default(4),
  INGEST_DEFAULT_DISK_GIB: envInt(1, 4096).default(20),
  /** Arch of jobs whose labels do not name one. */
  INGEST_DEFAULT_ARCH: z.enum(["amd64", "arm64"]).default("amd64"),
  /** Largest size a label may ask for: bigger jobs are JobIgnored with the reason. */
  INGEST_MAX_VCPUS: envInt(1, 1024).default(32),
  INGEST_MAX_MEM_GIB: envInt(1, 4096).default(128),
  /** Timeout of CI jobs (GitHub's own limit is 6 h). */
  INGEST_JOB_TIMEOUT_SEC: envInt(60, 7 * 24 * 3600).default(6 * 3600),
  /** Guest image CI jobs boot. */
  INGEST_IMAGE: z.string().default("full"),
  /** How long a store may take before the webhook gets 503 (GitHub gives up at 10 s). */
  INGEST_STORE_TIMEOUT_MS: envInt(100, 9_000).default(5_000),
});
export type IngestConfig = z.infer<typeof IngestEnv>;

export function appPrivateKey(c: IngestConfig): string | undefined {
  if (c.GITHUB_APP_PRIVATE_KEY_FILE) return readFileSync(c.GITHUB_APP_PRIVATE_KEY_FILE, "utf8");
  return c.GITHUB_APP_PRIVATE_KEY?.replace(/\\n/g, "\n");
}
