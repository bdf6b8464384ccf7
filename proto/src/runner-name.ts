/** GitHub refuses runner names over 64 characters. */
export const RUNNER_NAME_MAX = 64;
const PREFIX = "oneshot-";

/**
 * The just-in-time runner's name: `oneshot-<hostId>-<vmId>`, unique per VM (the VM id is
 * derived from the job and its attempt). A long host id is cut so the VM id always survives.
 * One rule for the broker that mints it, the scheduler that names it in VmIdle and the
 * webhooks and reconciler that parse it back.
 */
export function runnerNameFor(hostId: string, vmId: string): string {
  const room = RUNNER_NAME_MAX - PREFIX.length - 1 - vmId.length;
  return `${PREFIX}${hostId.slice(0, Math.max(0, room))}-${vmId}`;
}

/**
 * The VM (and, when the name was not cut, the host) behind a runner name from a webhook
 * (`workflow_job.runner_name`, GitLab `runner.description`): a runner is not bound to the job
 * it was started for, so this is how a job is matched to the VM that really ran it.
 */
export function parseRunnerName(name: string | null | undefined): { vmId: string; hostId?: string } | undefined {
  const m = /^oneshot-([A-Za-z0-9_-]+)-([a-z0-9]{1,12})$/.exec(name ?? "");
  if (!m) return undefined;
  return name!.length < RUNNER_NAME_MAX ? { vmId: m[2]!, hostId: m[1]! } : { vmId: m[2]! };
}
