import type { RunnerLaunch } from "@oneshot/proto";
import { ProviderError } from "../shared/provider-error.js";

/**
 * The guest side of a GitLab runner launch: a shell that moves the `glrt-` token out of the
 * environment before gitlab-runner starts. The token reaches gitlab-runner only through a FIFO
 * standing in for its config file (`run-single --config F --runner NAME` reads the file once, at
 * start: commands/single.go HandleArgs), so it is never on a disk, never in gitlab-runner's
 * environment (which the shell executor hands to the job and /proc shows to its user), never
 * in argv. The writer exits, and the FIFO goes, as soon as gitlab-runner has read it: before
 * it asks GitLab for a job. `$0` is a label for ps; the values were checked to be TOML-safe.
 */
export const GITLAB_RUNNER_WRAPPER = [
  "set -eu",
  "d=$(mktemp -d)",
  'cfg="$d/config.toml"',
  'mkfifo -m 0600 "$cfg"',
  `( printf '[[runners]]\\n  name = "%s"\\n  url = "%s"\\n  token = "%s"\\n  executor = "shell"\\n' "$RUNNER_NAME" "$CI_SERVER_URL" "$CI_SERVER_TOKEN" > "$cfg"; rm -rf "$d" ) & unset CI_SERVER_TOKEN`,
  'exec gitlab-runner run-single --config "$cfg" --runner "$RUNNER_NAME" --max-builds 1 --wait-timeout 120',
].join("; "); // one line: a launch argument cannot hold a newline (docs/guest-contract.md)

/**
 * A TOML basic string can hold these as they are: no quote, backslash or control character
 * (\p{Cc}: C0, DEL and C1; TOML would take C1 raw, but no name, URL or token carries one).
 */
const TOML_SAFE = /^[^"\\\p{Cc}]+$/u;

/**
 * What the guest runs to be the one-job GitLab runner (pure). One build, then it exits;
 * `--wait-timeout` bounds a pickup that never comes (a cancelled job leaves run-single polling),
 * and hostd bounds the VM's life anyway. GitLab deletes nothing by itself: ingest deletes the
 * runner at pickup (webhook-route.ts) and again when the job ends (runners.ts).
 */
export function gitlabLaunch(o: { url: string; token: string; runnerName: string }): RunnerLaunch {
  for (const [what, v] of [
    ["GITLAB_URL", o.url],
    ["runner token", o.token],
    ["runner name", o.runnerName],
  ] as const) {
    // Never the value in the message: one of them is the token.
    if (!TOML_SAFE.test(v))
      throw new ProviderError("gitlab", "invalid", `${what} holds a quote, backslash or control character: it cannot go into gitlab-runner's config`);
  }
  return {
    argv: ["/bin/sh", "-c", GITLAB_RUNNER_WRAPPER, "oneshot-gitlab-runner"],
    env: { CI_SERVER_URL: o.url, CI_SERVER_TOKEN: o.token, RUNNER_NAME: o.runnerName },
    user: "runner",
  };
}
