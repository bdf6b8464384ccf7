import { RunnerLaunch } from "@oneshot/proto";
import { describe, expect, it } from "vitest";
import { GITLAB_RUNNER_WRAPPER, gitlabLaunch } from "./launch.js";

describe("GitLab runner launch (what the guest runs)", () => {
  const o = { url: "https://gitlab.example.com", token: "glrt-abc123", runnerName: "oneshot-metal-02-abcde12345" };

  it("runs gitlab-runner run-single for one build through the wrapper, the token in env only", () => {
    const launch = gitlabLaunch(o);
    expect(launch).toEqual({
      argv: ["/bin/sh", "-c", GITLAB_RUNNER_WRAPPER, "oneshot-gitlab-runner"],
      env: { CI_SERVER_URL: o.url, CI_SERVER_TOKEN: o.token, RUNNER_NAME: o.runnerName },
      user: "runner",
    });
    expect(RunnerLaunch.parse(launch)).toEqual(launch);
    expect(launch.argv.join(" ")).not.toContain("glrt-");
    // The wrapper is one line (a launch argument cannot hold a newline) and unsets the token before exec.
    expect(GITLAB_RUNNER_WRAPPER).not.toMatch(/[\r\n]/);
    expect(GITLAB_RUNNER_WRAPPER).toMatch(
      /unset CI_SERVER_TOKEN; exec gitlab-runner run-single --config "\$cfg" --runner "\$RUNNER_NAME" --max-builds 1 --wait-timeout 120$/,
    );
  });

  it("refuses values that would break out of gitlab-runner's TOML config, without naming them", () => {
    for (const bad of [
      { ...o, url: 'https://x/"y' },
      { ...o, token: "glrt-a\\b" },
      { ...o, runnerName: "n\u0001" },
    ]) {
      expect(() => gitlabLaunch(bad)).toThrow(/cannot go into gitlab-runner's config/);
    }
    expect(() => gitlabLaunch({ ...o, token: 'glrt-"x' })).not.toThrow(/glrt/);
  });
});
