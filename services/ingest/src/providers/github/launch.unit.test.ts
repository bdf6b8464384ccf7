import { RunnerLaunch } from "@oneshot/proto";
import { describe, expect, it } from "vitest";
import { githubLaunch } from "./launch.js";

describe("GitHub runner launch (what the guest runs)", () => {
  it("runs run.sh as the runner user, the JIT config in env only", () => {
    const jit = "eyJ2IjoxfQ==".repeat(200);
    const launch = githubLaunch(jit);
    expect(launch).toEqual({ argv: ["/opt/actions-runner/run.sh"], env: { ACTIONS_RUNNER_INPUT_JITCONFIG: jit }, user: "runner" });
    expect(RunnerLaunch.parse(launch)).toEqual(launch);
    expect(launch.argv.join(" ")).not.toContain(jit);
  });
});
