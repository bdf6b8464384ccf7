import type { RunnerLaunch } from "@oneshot/proto";

/** Where the guest images install GitHub's runner (images/build-*.sh). */
export const GITHUB_RUNNER_RUN = "/opt/actions-runner/run.sh";

/**
 * What the guest runs to be the just-in-time runner. Pure. The JIT config goes in
 * `ACTIONS_RUNNER_INPUT_JITCONFIG` (what `run.sh --jitconfig` reads), never in argv: argv is
 * world-readable in /proc. The runner takes one job and is removed by GitHub.
 */
export function githubLaunch(encodedJitConfig: string): RunnerLaunch {
  return { argv: [GITHUB_RUNNER_RUN], env: { ACTIONS_RUNNER_INPUT_JITCONFIG: encodedJitConfig }, user: "runner" };
}
