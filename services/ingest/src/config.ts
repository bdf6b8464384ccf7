import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { BaseEnv, ConfigError, envBool, envInt } from "@oneshot/runtime";
import { z } from "zod";

/** An unset or empty variable is absent (compose writes `VAR=` for unset ones). */
const optional = z
  .string()
  .optional()
  .transform((v) => (v ? v : undefined));
const optionalPort = z.preprocess((v) => (v === "" ? undefined : v), envInt(1, 65535).optional());

/** ingest's configuration: environment only, parsed once at start. */
export const IngestEnv = BaseEnv.extend({
  /** Port for the webhooks and the job API; `/healthz` and `/metrics` are served on it too. */
  INGEST_PORT: envInt(0, 65535).default(8080),
  /** Optional second port serving only `/healthz` and `/metrics` (to keep them off a public port's firewall rule). */
  INGEST_HTTP_PORT: optionalPort,
  /** Address to listen on. */
  INGEST_HOST: z.string().min(1).default("0.0.0.0"),
  /** GitHub App webhook secret; without it `/webhooks/github` answers 503 (not configured). */
  GITHUB_WEBHOOK_SECRET: optional,
  /** The previous webhook secret, also accepted while a rotation is under way. */
  GITHUB_WEBHOOK_SECRET_PREVIOUS: optional,
  /** GitLab hook secret token (`X-Gitlab-Token`); without it `/webhooks/gitlab` answers 503. */
  GITLAB_WEBHOOK_TOKEN: optional,
  /** GitLab base URL for the API (job tags, runner creation) and for the runners it hands out. */
  GITLAB_URL: z.string().url().default("https://gitlab.com"),
  /** GitLab token with `api` scope: reads a job's tags, creates and deletes one runner per job. */
  GITLAB_API_TOKEN: optional,
  /** Bearer token for `POST /v1/jobs` (the CLI); without it the job API answers 503. */
  ONESHOT_API_TOKEN: optional,
  /** GitHub's REST API base (GitHub Enterprise Server: https://HOST/api/v3). */
  GITHUB_API_URL: z.string().url().default("https://api.github.com"),
  /** The GitHub App's id or client id (the JWT's `iss`); without it the broker answers `not-configured` for GitHub jobs. */
  GITHUB_APP_ID: optional.pipe(
    z
      .string()
      .regex(/^(\d{1,12}|Iv[0-9A-Za-z._-]{1,64})$/, "must be the App's numeric id or its client id")
      .optional(),
  ),
  /** The App's private key (PEM; `\n` escapes are accepted). */
  GITHUB_APP_PRIVATE_KEY: optional,
  /** A file holding the App's private key; wins over GITHUB_APP_PRIVATE_KEY. Read only when GITHUB_APP_ID is set. */
  GITHUB_APP_PRIVATE_KEY_FILE: optional,
  /** Runner group the just-in-time runners join (1 = Default). */
  GITHUB_RUNNER_GROUP_ID: envInt(1, 2 ** 31).default(1),
  /**
   * Webhook bodies above this many bytes get 413 without being read to the end. Real
   * `workflow_job` bodies are ~25 KB (a GitLab Job Hook a few KB); 256 KiB is 10× that with
   * room for 100 long labels, and with INGEST_MAX_IN_FLIGHT bounds what slow bodies can hold
   * in memory (256 × 256 KiB = 64 MiB). GitHub may send up to 25 MB: raise it only if yours do.
   */
  INGEST_MAX_BODY_BYTES: envInt(1024, 25 * 1024 * 1024).default(256 * 1024),
  /** The job API's body cap: a local job carries its script (up to 256 KiB) as JSON. */
  INGEST_JOB_MAX_BODY_BYTES: envInt(1024, 25 * 1024 * 1024).default(1024 * 1024),
  /** Requests handled at once; more get 503 with retry-after (GitHub and GitLab deliver again via the reconciler / their retries). */
  INGEST_MAX_IN_FLIGHT: envInt(1, 100_000).default(256),
  /** Open connections at once (node:http `maxConnections`); more are refused at accept. */
  INGEST_MAX_CONNECTIONS: envInt(1, 1_000_000).default(1024),
  /** vCPUs of a job labelled plain `oneshot`. */
  INGEST_DEFAULT_VCPUS: envInt(1, 1024).default(2),
  /** Memory (GiB) of a job labelled plain `oneshot`. */
  INGEST_DEFAULT_MEM_GIB: envInt(1, 4096).default(4),
  /** Root disk (GiB) of every CI job (labels do not size disks). */
  INGEST_DEFAULT_DISK_GIB: envInt(1, 4096).default(20),
  /** Arch of jobs whose labels do not name one. */
  INGEST_DEFAULT_ARCH: z.enum(["amd64", "arm64"]).default("amd64"),
  /** Most vCPUs a label or a local job may ask for; above it the job is JobIgnored with the reason. */
  INGEST_MAX_VCPUS: envInt(1, 1024).default(32),
  /** Most memory (GiB) a label or a local job may ask for. */
  INGEST_MAX_MEM_GIB: envInt(1, 4096).default(128),
  /**
   * The egress policy file (docs/egress-policy.md), YAML or JSON: rules per provider, org, repo
   * and label, each `open`, `allow` (names, `*.` wildcards, CIDRs) or `audit`; the first that
   * matches a job is the policy its VM runs under, carried in JobQueued. Unset: every job is open.
   */
  INGEST_EGRESS_POLICY_FILE: optional,
  /** Timeout of CI jobs (GitHub's own limit is 6 h). */
  INGEST_JOB_TIMEOUT_SEC: envInt(60, 7 * 24 * 3600).default(6 * 3600),
  /** Guest image CI jobs boot. */
  INGEST_IMAGE: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,63}$/, "must be an image name like full or minimal")
    .default("full"),
  /**
   * Store deliveries for jobs with no oneshot label (GitHub-hosted jobs of the installed
   * organisations) as JobIgnored events, for ever. Off (the default): they are counted
   * (`ingest_foreign_deliveries_total`) and kept 4 days in the KV bucket `ingest-foreign`.
   */
  INGEST_RECORD_FOREIGN_JOBS: envBool.default(false),
  /** How long reading and storing may take before the webhook gets 503 (GitHub and GitLab give up at 10 s). */
  INGEST_STORE_TIMEOUT_MS: envInt(100, 9_000).default(5_000),
  // ── Reconcile (reconcile/, docs/runner-model.md "The reconciler") ──
  /**
   * Run the reconciler: answer VmIdle (ask the provider, remove the runner, VmRetired), redeliver
   * failed GitHub deliveries, ask about stale jobs. It asks GitHub only with an App configured and
   * GitLab only with GITLAB_API_TOKEN; local VMs retire without asking. Off: idle VMs wait for the
   * janitor's backstop and lost deliveries stay lost.
   */
  RECONCILE_ENABLED: envBool.default(true),
  /** Seconds between passes: deliveries are listed, stale jobs asked about (each at most once per interval). */
  RECONCILE_INTERVAL: envInt(1, 3600).default(120),
  /** Seconds a job may stay queued or started without news before its provider is asked about it. */
  RECONCILE_STALE_AFTER: envInt(1, 7 * 24 * 3600).default(300),
  /** Most reconcile API requests in flight at once (GitHub's secondary limit counts concurrency). */
  RECONCILE_MAX_CONCURRENCY: envInt(1, 100).default(4),
  /** Most stale jobs asked about per pass (the least recently asked first). */
  RECONCILE_MAX_CHECKS_PER_TICK: envInt(1, 10_000).default(200),
  /** Requests per hour per budget key (a GitHub installation, the App, the GitLab token); GitHub allows 5,000. */
  RECONCILE_BUDGET_PER_HOUR: envInt(1, 15_000).default(4_000),
  /** Points per minute per key (GET 1, POST/DELETE 5); GitHub's secondary limit is ~900. */
  RECONCILE_POINTS_PER_MINUTE: envInt(5, 900).default(600),
  /** A budget or `retry-after` wait up to this many seconds is waited out; a longer one defers the call to a later pass. */
  RECONCILE_MAX_WAIT: envInt(0, 600).default(30),
  /** Pages of 100 deliveries read per pass at most, walking back to the checkpoint (the first pass walks back 3 days; a walk that hits the cap logs how far it got and moves on). */
  RECONCILE_DELIVERIES_MAX_PAGES: envInt(1, 1000).default(10),
  /** Seconds the reconcile lease (KV `ingest-reconcile`) lives unrenewed: a standby replica takes over after it. */
  RECONCILE_LEASE_TTL: envInt(5, 600).default(30),
  /**
   * Write a snapshot of the reconciler's projection (KV bucket `snapshots`, key `reconcile.head`)
   * after this many events (0: not by count). A start reads the newest one this build can read
   * (same schema, same hash of reconcile/, same stream) and replays only the events after it;
   * any other is ignored and the whole log replayed. Both 0: no snapshots.
   */
  RECONCILE_SNAPSHOT_EVERY: envInt(0, 100_000_000).default(20_000),
  /** ...or at the first event this many seconds after the last snapshot (0: by count only). */
  RECONCILE_SNAPSHOT_SECONDS: envInt(0, 86_400).default(300),
}).superRefine((c, ctx) => {
  if (c.INGEST_DEFAULT_VCPUS > c.INGEST_MAX_VCPUS)
    ctx.addIssue({ code: "custom", path: ["INGEST_DEFAULT_VCPUS"], message: `is above INGEST_MAX_VCPUS (${c.INGEST_MAX_VCPUS})` });
  if (c.INGEST_DEFAULT_MEM_GIB > c.INGEST_MAX_MEM_GIB)
    ctx.addIssue({ code: "custom", path: ["INGEST_DEFAULT_MEM_GIB"], message: `is above INGEST_MAX_MEM_GIB (${c.INGEST_MAX_MEM_GIB})` });
  if (c.GITHUB_APP_ID && !c.GITHUB_APP_PRIVATE_KEY && !c.GITHUB_APP_PRIVATE_KEY_FILE) {
    ctx.addIssue({ code: "custom", path: ["GITHUB_APP_PRIVATE_KEY_FILE"], message: "required when GITHUB_APP_ID is set (or GITHUB_APP_PRIVATE_KEY)" });
  }
});
export type IngestConfig = z.infer<typeof IngestEnv>;

export interface GithubAppCredentials {
  appId: string;
  privateKey: string;
}

/**
 * The App's id and private key, read and checked once at start, or undefined when no App is
 * configured. Throws ConfigError naming the variable; the message never holds key material.
 */
export function githubAppCredentials(c: IngestConfig, read = (path: string) => readFileSync(path, "utf8")): GithubAppCredentials | undefined {
  if (!c.GITHUB_APP_ID) return undefined;
  const variable = c.GITHUB_APP_PRIVATE_KEY_FILE ? "GITHUB_APP_PRIVATE_KEY_FILE" : "GITHUB_APP_PRIVATE_KEY";
  let pem: string;
  if (c.GITHUB_APP_PRIVATE_KEY_FILE) {
    try {
      pem = read(c.GITHUB_APP_PRIVATE_KEY_FILE);
    } catch (e) {
      throw new ConfigError(variable, `cannot read ${c.GITHUB_APP_PRIVATE_KEY_FILE} (${(e as NodeJS.ErrnoException).code ?? "error"})`);
    }
  } else {
    pem = c.GITHUB_APP_PRIVATE_KEY!.replace(/\\n/g, "\n");
  }
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== "rsa") throw new Error("not RSA");
  } catch {
    throw new ConfigError(variable, "is not an RSA private key in PEM (GitHub App keys are; download one from the App's settings)");
  }
  return { appId: c.GITHUB_APP_ID, privateKey: pem };
}
