import { parseRunnerName, type DomainEvent } from "@oneshot/proto";

/**
 * JobStarted as a webhook reports it, naming the VM when the runner is one of ours
 * (`oneshot-<hostId>-<vmId>`): the runner that took the job, not the VM booted for it.
 */
export function started(jobId: string, runnerName: string | null | undefined): DomainEvent {
  const name = runnerName ? runnerName.slice(0, 256) : undefined;
  const vm = parseRunnerName(name);
  return {
    type: "JobStarted",
    data: {
      jobId,
      ...(name ? { runnerName: name } : {}),
      ...(vm?.hostId ? { hostId: vm.hostId } : {}),
      ...(vm ? { vmId: vm.vmId } : {}),
      reportedBy: "webhook",
    },
  };
}
