import { ensureKv } from "@oneshot/runtime";
import type { IngestConfig } from "../../config.js";
import type { ProviderSetup } from "../registry.js";
import { gitlabApi } from "./api.js";
import { gitlabProvider } from "./provider.js";
import { GITLAB_RUNNERS_BUCKET, kvRunnerRegistry, startGitlabCleanup } from "./runners.js";

const noTags = async () => ({ ok: false as const, reason: "job tags unavailable: ingest has no GITLAB_API_TOKEN" });

/**
 * Without `GITLAB_API_TOKEN` the Job Hook still records jobs (as ignored: their tags cannot be
 * had) and the broker answers `not-configured`. With it: the API, the runner ids in KV, and the
 * cleanup consumer that deletes a job's runners when it ends.
 */
export function gitlabSetup(c: IngestConfig): ProviderSetup {
  return async ({ nats, log }) => {
    if (!c.GITLAB_API_TOKEN) return gitlabProvider({ url: c.GITLAB_URL, jobTags: noTags });
    const api = gitlabApi({ baseUrl: c.GITLAB_URL, token: c.GITLAB_API_TOKEN });
    const registry = kvRunnerRegistry(await ensureKv(nats, GITLAB_RUNNERS_BUCKET, { ttlMs: 7 * 24 * 3600_000 }));
    const cleanup = await startGitlabCleanup({ nats, registry, log, deleteRunner: api.deleteRunner });
    return gitlabProvider({
      url: c.GITLAB_URL,
      jobTags: api.jobTags,
      stop: cleanup.stop,
      runners: { createRunner: api.createRunner, refProtected: api.refProtected, deleteRunner: api.deleteRunner, remember: registry.remember },
    });
  };
}
