import { Provider, type JobSource } from "@oneshot/proto";
import { parseConfig } from "@oneshot/runtime";
import { describe, expect, it } from "vitest";
import { IngestEnv } from "../config.js";
import { githubProvider } from "./github/provider.js";
import { gitlabProvider } from "./gitlab/provider.js";
import { localProvider } from "./local/provider.js";
import { providerNames, providerSetup, webhookProviders } from "./registry.js";

const source = (provider: JobSource["provider"], extra: Partial<JobSource> = {}): JobSource => ({
  provider,
  repo: "acme/w",
  org: "acme",
  providerJobId: "1",
  labels: ["oneshot"],
  ...extra,
});
const noTags = async () => ({ ok: false as const, reason: "none" });

describe("the CI-provider registry", () => {
  it("has a setup for every provider proto knows, each named as its jobs' source.provider", () => {
    expect(providerNames).toEqual(Provider.options);
    const c = parseConfig(IngestEnv, {});
    for (const name of providerNames) expect(typeof providerSetup(name, c), name).toBe("function");
    expect([...webhookProviders(c).values()].map((p) => p.name).sort()).toEqual([...Provider.options].sort());
  });

  it("serves a webhook for GitHub and GitLab, none for local jobs", () => {
    expect(Boolean(githubProvider({ runnerGroupId: 1 }).webhook)).toBe(true);
    expect(Boolean(gitlabProvider({ url: "https://gitlab.com", jobTags: noTags }).webhook)).toBe(true);
    expect(localProvider().webhook).toBeUndefined();
  });

  it("mints no runner for a local job (its script runs inline)", () => {
    expect(localProvider().runners).toBeUndefined();
  });

  it.each([
    ["a GitHub job without an App installation", githubProvider({ runnerGroupId: 1 }), source("github"), /without a GitHub App installation id/],
    ["a GitLab job without a project", gitlabProvider({ url: "https://gitlab.com", jobTags: noTags }), source("gitlab"), /no GitLab project id/],
  ] as const)("refuses by its source alone: %s", (_, p, s, reason) => {
    expect(p.runners!.sourceProblem(s)).toMatch(reason);
  });

  it("accepts a source that has what minting needs", () => {
    expect(githubProvider({ runnerGroupId: 1 }).runners!.sourceProblem(source("github", { installationId: 42 }))).toBeUndefined();
    expect(gitlabProvider({ url: "https://gitlab.com", jobTags: noTags }).runners!.sourceProblem(source("gitlab", { projectId: 380 }))).toBeUndefined();
  });

  it("says not-configured, naming the variable, when the provider has no credentials", async () => {
    const req = { jobId: "gh-1", runnerName: "oneshot-h-v", jobEnded: async () => false };
    await expect(githubProvider({ runnerGroupId: 1 }).runners!.mintLaunch({ ...req, source: source("github", { installationId: 42 }) })).rejects.toMatchObject({
      code: "not-configured",
      message: expect.stringMatching(/GITHUB_APP_ID/),
    });
    await expect(
      gitlabProvider({ url: "https://gitlab.com", jobTags: noTags }).runners!.mintLaunch({ ...req, source: source("gitlab", { projectId: 1 }) }),
    ).rejects.toMatchObject({ code: "not-configured", message: expect.stringMatching(/GITLAB_API_TOKEN/) });
  });
});
