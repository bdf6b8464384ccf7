import { githubAppCredentials, type IngestConfig } from "../../config.js";
import type { ProviderSetup } from "../registry.js";
import { githubJitMinter } from "./jit-minter.js";
import { githubProvider } from "./provider.js";

/** Reads and checks the App's key now (ConfigError naming the variable); mints with it later. */
export function githubSetup(c: IngestConfig): ProviderSetup {
  const app = githubAppCredentials(c);
  return async () =>
    githubProvider({ runnerGroupId: c.GITHUB_RUNNER_GROUP_ID, ...(app ? { mint: githubJitMinter({ ...app, baseUrl: c.GITHUB_API_URL }) } : {}) });
}
