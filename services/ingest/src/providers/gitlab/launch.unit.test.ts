import { RunnerLaunch } from "@oneshot/proto";
import { describe, expect, it } from "vitest";
import { gitlabLaunch } from "./launch.js";

describe("GitLab runner launch (what the guest runs)", () => {
  it("runs gitlab-runner run-single for one build, the token in env only", () => {
    const launch = gitlabLaunch({ url: "https://gitlab.example.com", token: "glrt-abc123", runnerName: "oneshot-metal-02-abcde12345" });
    expect(launch).toEqual({
      argv: ["gitlab-runner", "run-single", "--url", "https://gitlab.example.com", "--executor", "shell", "--max-builds", "1", "--wait-timeout", "120"],
      env: { CI_SERVER_URL: "https://gitlab.example.com", CI_SERVER_TOKEN: "glrt-abc123", RUNNER_NAME: "oneshot-metal-02-abcde12345" },
      user: "runner",
    });
    expect(RunnerLaunch.parse(launch)).toEqual(launch);
    expect(launch.argv.join(" ")).not.toContain("glrt-");
  });
});
