import type { CiProvider } from "../port.js";
import { ProviderError } from "../shared/provider-error.js";
import { gitlabLaunch } from "./launch.js";
import type { GitlabTags } from "./payload.js";
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
    createRunner: (projectId: number, tags: string[], description: string) => Promise<{ id: number; token: string }>;
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
    webhook: (d) => gitlabRoute(d, o.jobTags),
    runners: {
      sourceProblem: (s) => (s.projectId ? undefined : "has no GitLab project id"),
      mintLaunch: async ({ jobId, source, runnerName, jobEnded }) => {
        const api = o.runners;
        if (!api) throw new ProviderError("gitlab", "not-configured", "ingest has no GitLab API token (GITLAB_API_TOKEN)");
        const runner = await api.createRunner(source.projectId!, source.labels, runnerName);
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
