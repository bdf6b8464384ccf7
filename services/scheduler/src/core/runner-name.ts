/** GitHub refuses runner names over 64 characters. */
const RUNNER_NAME_MAX = 64;
const PREFIX = "oneshot-";

/**
 * The just-in-time runner's name, `oneshot-<hostId>-<vmId>`, exactly as ingest mints it
 * (services/ingest/src/core/runner-name.ts; copied, since a core imports no other service):
 * a long host id is cut so the VM id always survives. VmIdle carries it for the reconciler.
 */
export function runnerNameFor(hostId: string, vmId: string): string {
  const room = RUNNER_NAME_MAX - PREFIX.length - 1 - vmId.length;
  return `${PREFIX}${hostId.slice(0, Math.max(0, room))}-${vmId}`;
}
