import type { Accel, Arch } from "@oneshot/proto";

/**
 * The VMM port: what hostd needs from any VMM (QEMU, Firecracker). One folder per driver
 * under `vmm/`; nothing outside a driver's folder may assume which VMM is behind this.
 * All paths are absolute. The guest side is `docs/guest-contract.md`.
 */
export interface VmLaunchSpec {
  vmId: string;
  arch: Arch;
  vcpus: number;
  memMiB: number;
  kernel: string;
  initrd: string;
  /** Extra kernel args after the driver's own console/root args (never job-specific). */
  extraCmdline?: string;
  /** The VM's own CoW root disk, in `driver.rootDiskFormat`. */
  rootDisk: string;
  /** Config drive (raw ext4, label `oneshot-cfg`, then the marker key block): attached writable, the agent erases the key. */
  configDisk: string;
  /**
   * Warm pool VMs only (docs/warm-pool.md): the job drive, raw, attached writable and empty;
   * hostd fills it in place at hand-over (`handOver` below), the agent erases it.
   */
  jobDisk?: string;
  /** Tap device on the oneshot bridge, with the guest MAC; absent = no network. */
  net?: { tap: string; mac: string };
  /** Per-VM directory the driver may use for sockets, pid files, chroots. Exists already. */
  runDir: string;
  /** Console output goes here, truncated at `consoleMaxBytes`. */
  consoleLog: string;
  consoleMaxBytes: number;
  accel: Accel;
}

export interface VmExit {
  /** Process exit code of the VMM; null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningVm {
  vmId: string;
  pid: number | null;
  /** Resolves when the VMM process has exited (never rejects). */
  exited: Promise<VmExit>;
}

export interface ProbeResult {
  ok: boolean;
  accel: Accel;
  /** Why KVM (or the whole VMM) is not usable, for the one log line. */
  reason?: string;
}

/** Codes of boots the host refuses by policy (fail closed): they become the VmBootFailed code as they are. */
export const REFUSAL_CODES = ["no-sandbox", "no-cgroup"] as const;

/** Typed boot failure: the VMM refused the configuration or failed to start. */
export class VmmError extends Error {
  override readonly name = "VmmError";
  readonly retryable = false;
  constructor(
    readonly vmId: string,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`vm ${vmId}: ${message}`, options);
  }
  /** The host refused to boot (a missing jail piece), rather than the VMM failing. */
  get refusal(): boolean {
    return (REFUSAL_CODES as readonly string[]).includes(this.code);
  }
}

export interface VmmDriver {
  readonly name: "qemu" | "firecracker";
  /** The root disk format this driver boots (qcow2 overlay for QEMU, raw for Firecracker). */
  readonly rootDiskFormat: "qcow2" | "raw";
  /** The VMM's own memory beside each guest's RAM (MiB): in the VM's `memory.max`, reserved in capacity. */
  readonly memOverheadMiB: number;
  /** Whether this VMM can run guests of `arch` here, and with which accelerator. */
  probe(arch: Arch): Promise<ProbeResult>;
  /** Starts the VMM (the guest boots). Throws VmmError when it cannot start. */
  start(spec: VmLaunchSpec): Promise<RunningVm>;
  /** Asks the guest to stop cleanly, then kills the VMM after `graceMs`. Idempotent. */
  stop(vmId: string, runDir: string, graceMs: number): Promise<void>;
  /**
   * VMM processes of ours on this machine (by naming), whoever started them. `runDir`, when
   * the driver can tell it (from the process's arguments), says which state dir a process
   * belongs to: another hostd on the same machine has its own.
   */
  list(): Promise<{ vmId: string; pid: number; runDir?: string }[]>;
  /**
   * Warm pool VMs: hostd has written the job into `jobDisk` (the spec's); the driver makes the
   * guest see it. QEMU serves the file as it is (nothing to do); a VMM that reads a copy (a
   * jailer's chroot) copies it and tells the VMM. Legal only after `start`.
   */
  handOver?(vmId: string, runDir: string, jobDisk: string): Promise<void>;
  /** Removes whatever the driver put in `runDir` (sockets, chroot). Idempotent. */
  cleanup(vmId: string, runDir: string): Promise<void>;
}
