import type { RunnerLaunch } from "@oneshot/proto";

/**
 * What the guest runs to be the one-job GitLab runner. Pure. `gitlab-runner run-single` takes
 * `--url`/`--token`/`--name` from `CI_SERVER_URL`/`CI_SERVER_TOKEN`/`RUNNER_NAME` when the flags
 * are absent: the `glrt-` token goes in env only, never in argv (world-readable in /proc).
 * One build, then it exits; `--wait-timeout` bounds a pickup that never comes (a cancelled job
 * leaves run-single polling), and hostd bounds the VM's life anyway.
 */
export function gitlabLaunch(o: { url: string; token: string; runnerName: string }): RunnerLaunch {
  return {
    argv: ["gitlab-runner", "run-single", "--url", o.url, "--executor", "shell", "--max-builds", "1", "--wait-timeout", "120"],
    env: { CI_SERVER_URL: o.url, CI_SERVER_TOKEN: o.token, RUNNER_NAME: o.runnerName },
    user: "runner",
  };
}
