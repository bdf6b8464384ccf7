import type { CiProvider } from "../port.js";
import { ProviderError } from "../shared/provider-error.js";
import { gitlabLaunch } from "./launch.js";
import type { GitlabTags } from "./payload.js";
import type { RunnerAccessLevel } from "./api.js";
import { gitlabRoute } from "./webhook-route.js";

export interface GitlabProviderDeps {
  /** GitLab's base URL, given to the runners. */
  url: string;
  /**
   * A job's tags (`GET /projects/:id/jobs/:job_id` → tag_list) for the Job Hook. Answers
   * `{ok: false}` when they cannot exist (no API token, unknown job); throws a retryable error
   * when GitLab is unreachable, so the hook gets 503 and is delivered again.
   */
  jobTags: (projectId: number, jobId: number) => Promise<GitlabTags>;
  /** Undefined without a GitLab API token: GitLab jobs get `not-configured`. */
  runners?: {
    createRunner: (projectId: number, tags: string[], description: string, accessLevel?: RunnerAccessLevel) => Promise<{ id: number; token: string }>;
    /** Whether the job's ref is protected (api.ts); undefined: GitLab cannot say. */
    refProtected?: (projectId: number, jobId: number) => Promise<boolean | undefined>;
    deleteRunner: (runnerId: number) => Promise<void>;
    /** Remembers the runner, so it is deleted when the job ends (runners.ts). */
    remember: (jobId: string, runnerId: number) => Promise<void>;
  };
  /** Stops the runner cleanup. */
  stop?: () => Promise<void>;
}

/** GitLab: the Job Hook, and one locked project runner per VM, deleted when its job ends. */
export function gitlabProvider(o: GitlabProviderDeps): CiProvider {
  return {
    name: "gitlab",
    webhook: (d) => gitlabRoute(d, o.jobTags, o.runners?.deleteRunner),
    runners: {
      sourceProblem: (s) => (s.projectId ? undefined : "has no GitLab project id"),
      mintLaunch: async ({ jobId, source, runnerName, jobEnded }) => {
        const api = o.runners;
        if (!api) throw new ProviderError("gitlab", "not-configured", "ingest has no GitLab API token (GITLAB_API_TOKEN)");
        // A job of a protected ref gets a ref_protected runner: no job of an unprotected ref
        // (anyone who can push) can take it. GitLab has no level for "unprotected refs only", so
        // an unprotected job's runner could take a protected job with the same tags: what bounds
        // that is the token's reach and life (launch.ts; deleted at pickup, webhook-route.ts).
        const isProtected = await api.refProtected?.(source.projectId!, Number(source.providerJobId));
        const runner = await api.createRunner(source.projectId!, source.labels, runnerName, isProtected ? "ref_protected" : "not_protected");
        try {
          await api.remember(jobId, runner.id);
        } catch (e) {
          // Unremembered, it would never be deleted: take it back now.
          await api.deleteRunner(runner.id).catch(() => undefined);
          throw e;
        }
        // The job may have ended while the runner was made, after the cleanup looked: look again.
        if (await jobEnded()) {
          await api.deleteRunner(runner.id).catch(() => undefined);
          throw new ProviderError("gitlab", "not-runnable", `job ${jobId} ended while its runner was being created`);
        }
        return { runnerName, launch: gitlabLaunch({ url: o.url, token: runner.token, runnerName }) };
      },
    },
    ...(o.stop ? { stop: o.stop } : {}),
  };
}
