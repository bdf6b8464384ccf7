/** A VMM process hostd told the watchdog about. */
export interface WatchedVmm {
  vmId: string;
  pid: number;
}

/**
 * The processes to kill when the lease ran out: only those whose command line still names their
 * VM (a pid may have been reused by something else since hostd reported it). Pure: the
 * command line reader is an input.
 */
export function vmmsToKill(vmms: readonly WatchedVmm[], cmdline: (pid: number) => string | undefined): WatchedVmm[] {
  return vmms.filter((v) => Number.isInteger(v.pid) && v.pid > 1 && /^[a-z0-9]{1,12}$/.test(v.vmId) && (cmdline(v.pid)?.includes(v.vmId) ?? false));
}
