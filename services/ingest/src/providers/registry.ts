import { Provider } from "@oneshot/proto";
import type { Logger, Nats } from "@oneshot/runtime";
import type { IngestConfig } from "../config.js";
import { githubProvider } from "./github/provider.js";
import { githubSetup } from "./github/setup.js";
import { gitlabProvider, type GitlabProviderDeps } from "./gitlab/provider.js";
import { gitlabSetup } from "./gitlab/setup.js";
import { localProvider } from "./local/provider.js";
import { localSetup } from "./local/setup.js";
import type { CiProvider } from "./port.js";

/** What a provider may use once NATS is up. */
export interface ProviderContext {
  nats: Nats;
  log: Logger;
}

/** Builds a provider once NATS is up (its KV buckets, its background consumers). */
export type ProviderSetup = (ctx: ProviderContext) => Promise<CiProvider>;

/** Every provider a job can come from: proto's closed set (`JobSource.provider`). */
export const providerNames: readonly Provider[] = Provider.options;

/**
 * The registry: a provider's name → its setup. Called before anything connects, so a bad
 * variable stops ingest with one line (ConfigError) before a socket is opened.
 * A new provider is one folder in `providers/` and one line here.
 */
export function providerSetup(name: Provider, c: IngestConfig): ProviderSetup {
  switch (name) {
    case "github":
      return githubSetup(c);
    case "gitlab":
      return gitlabSetup(c);
    case "local":
      return localSetup();
    default: {
      const unknown: never = name;
      throw new Error(`no CI provider named ${JSON.stringify(unknown)}`);
    }
  }
}

/** The providers in use, by name: what the HTTP server and the broker look jobs up in. */
export type Providers = ReadonlyMap<string, CiProvider>;

export const providerMap = (list: readonly CiProvider[]): Providers => new Map(list.map((p) => [p.name, p]));

/** Sets every provider up, in the registry's order. */
export async function startProviders(setups: readonly ProviderSetup[], ctx: ProviderContext): Promise<Providers> {
  const list: CiProvider[] = [];
  for (const setup of setups) list.push(await setup(ctx));
  return providerMap(list);
}

/**
 * Webhook-only providers from the configuration and a job-tags lookup, for an HTTP server built
 * without a broker (bench/ingest.bench.ts): nothing is minted and nothing runs in the background.
 */
export function webhookProviders(c: IngestConfig, gitlabTags?: GitlabProviderDeps["jobTags"], gitlabRunners?: GitlabProviderDeps["runners"]): Providers {
  const jobTags = gitlabTags ?? (async () => ({ ok: false as const, reason: "job tags unavailable: ingest has no GITLAB_API_TOKEN" }));
  return providerMap([
    githubProvider({ runnerGroupId: c.GITHUB_RUNNER_GROUP_ID }),
    gitlabProvider({ url: c.GITLAB_URL, jobTags, ...(gitlabRunners ? { runners: gitlabRunners } : {}) }),
    localProvider(),
  ]);
}
