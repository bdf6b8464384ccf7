/** Why hostd stopped a VM itself, if it did. */
export type StopCause = "timeout" | "killed" | undefined;

export interface ExitOutcome {
  exitCode: number | null;
  reason: "exited" | "timeout" | "killed" | "crashed";
}

/**
 * The VmExited verdict from what the console said and why the VM ended (pure):
 *  - the last authenticated `ONESHOT-JOB-EXIT=` marker is the job's exit code, whoever stopped the VM;
 *  - killed by hostd (reclaim, shutdown) → `killed`;
 *  - past its timeout with no marker → `timeout` (exit code unknown);
 *  - ended on its own with no marker → `crashed` (docs/guest-contract.md: `no-exit-marker`).
 */
export function exitOutcome(lastExitMarker: number | undefined, cause: StopCause): ExitOutcome {
  const exitCode = lastExitMarker ?? null;
  if (cause === "killed") return { exitCode, reason: "killed" };
  if (exitCode !== null) return { exitCode, reason: "exited" };
  return { exitCode: null, reason: cause === "timeout" ? "timeout" : "crashed" };
}

/** A boot that never reached the agent's ready marker, as a VmBootFailed code and reason (pure). */
export function bootFailure(o: {
  vmmExited: boolean;
  timedOut: boolean;
  agentError?: string | undefined;
  unverifiedAgentError?: string | undefined;
  killed?: boolean;
  bootTimeoutSec: number;
}): { code: string; reason: string } {
  if (o.killed) return { code: "killed", reason: "stopped by hostd before the guest agent was ready" };
  if (o.agentError) return { code: "agent-error", reason: `guest agent: ${o.agentError}` };
  // Without a MAC (the initramfs, or the agent before it read its key): a reason, never trusted for more.
  if (o.unverifiedAgentError) return { code: "agent-error", reason: `guest (unauthenticated, before the agent had its key): ${o.unverifiedAgentError}` };
  if (o.timedOut) return { code: "agent-timeout", reason: `no ONESHOT-AGENT-READY within ${o.bootTimeoutSec}s of the VMM start` };
  return { code: "vmm-exited", reason: "the VM stopped before the guest agent was ready" };
}

/** Why a boot ended before the agent's marker: from what the console said and how the VMM ended. */
export function bootFailureOf(
  markers: { agentError?: string | undefined; unverifiedAgentError?: string | undefined },
  o: { exited: boolean; killed: boolean; bootTimeoutSec: number },
): { code: string; reason: string } {
  return bootFailure({
    vmmExited: o.exited,
    timedOut: !o.exited && !o.killed,
    agentError: markers.agentError,
    unverifiedAgentError: markers.unverifiedAgentError,
    killed: o.killed,
    bootTimeoutSec: o.bootTimeoutSec,
  });
}
