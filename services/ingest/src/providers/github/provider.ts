import type { CiProvider } from "../port.js";
import { ProviderError } from "../shared/provider-error.js";
import type { MintGithub } from "./jit-minter.js";
import { githubLaunch } from "./launch.js";
import { githubRoute } from "./webhook-route.js";

export interface GithubProviderDeps {
  /** Undefined without a GitHub App: GitHub jobs get `not-configured`. */
  mint?: MintGithub;
  /** Runner group the JIT runners join (`GITHUB_RUNNER_GROUP_ID`). */
  runnerGroupId: number;
}

/** GitHub: the App's `workflow_job` webhook, and just-in-time runners minted as the App. */
export function githubProvider(o: GithubProviderDeps): CiProvider {
  return {
    name: "github",
    webhook: githubRoute,
    runners: {
      sourceProblem: (s) => (s.installationId ? undefined : "came without a GitHub App installation id (not an App delivery)"),
      mintLaunch: async ({ source, runnerName }) => {
        if (!o.mint) throw new ProviderError("github", "not-configured", "ingest has no GitHub App (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY_FILE)");
        // Organisations get an org-level runner; a user's repository can only have repo-level ones.
        const scope = source.ownerType === "User" ? { repo: source.repo } : { org: source.org };
        const jit = await o.mint({ installationId: source.installationId!, scope, name: runnerName, labels: source.labels, runnerGroupId: o.runnerGroupId });
        return { runnerName: jit.runnerName, launch: githubLaunch(jit.encodedJitConfig) };
      },
    },
  };
}
