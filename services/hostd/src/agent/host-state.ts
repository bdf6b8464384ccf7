import type { Arch, JobSpec, Resources } from "@oneshot/proto";

/**
 * hostd's own bookkeeping of work on this host (pure: no I/O, no clock). The scheduler
 * already never overbooks a host; hostd still admits VMs itself, because its concurrency
 * limit may be lower than the capacity it registered, and because a placement may arrive
 * while the VM it replaces is still being destroyed. Admission is FIFO: a big job at the head
 * is not starved by small ones behind it.
 */
export interface Placement {
  vmId: string;
  jobId: string;
  spec: JobSpec;
}

export interface HostState {
  arch: Arch;
  capacity: Resources;
  maxConcurrent: number;
  images: readonly string[];
  cordoned: boolean;
  draining: boolean;
  deregistered: boolean;
  /** Accepted, waiting for room, oldest first. */
  queue: Placement[];
  /** Admitted (steps running) until destroyed. */
  running: Placement[];
}

export type Verdict =
  | { kind: "accept" }
  | { kind: "duplicate" }
  | { kind: "reject"; code: "host-cordoned" | "host-draining" | "wrong-arch" | "no-image" | "too-big"; reason: string };

export function initialHostState(o: { arch: Arch; capacity: Resources; maxConcurrent: number; images: readonly string[] }): HostState {
  return { ...o, cordoned: false, draining: false, deregistered: false, queue: [], running: [] };
}

export const owns = (s: HostState, vmId: string): boolean => s.queue.some((p) => p.vmId === vmId) || s.running.some((p) => p.vmId === vmId);

export function used(s: HostState): Resources {
  return s.running.reduce((u, p) => ({ vcpus: u.vcpus + p.spec.vcpus, memMiB: u.memMiB + p.spec.memMiB, diskGiB: u.diskGiB + p.spec.diskGiB }), {
    vcpus: 0,
    memMiB: 0,
    diskGiB: 0,
  });
}

/** Whether this host takes a placement at all (capacity now does not matter: it may wait). */
export function judgePlacement(s: HostState, p: Placement): Verdict {
  if (owns(s, p.vmId)) return { kind: "duplicate" };
  if (s.draining) return { kind: "reject", code: "host-draining", reason: "host is draining: it accepts no new work" };
  if (s.cordoned) return { kind: "reject", code: "host-cordoned", reason: "host is cordoned: it accepts no new work" };
  if (p.spec.arch !== s.arch) return { kind: "reject", code: "wrong-arch", reason: `job wants ${p.spec.arch}, this host runs ${s.arch}` };
  if (!s.images.includes(p.spec.image))
    return {
      kind: "reject",
      code: "no-image",
      reason: `no guest image ${JSON.stringify(p.spec.image)} for ${s.arch} here (have: ${s.images.join(", ") || "none"})`,
    };
  const c = s.capacity;
  if (p.spec.vcpus > c.vcpus || p.spec.memMiB > c.memMiB || p.spec.diskGiB > c.diskGiB) {
    return {
      kind: "reject",
      code: "too-big",
      reason: `job needs ${p.spec.vcpus} vCPU/${p.spec.memMiB} MiB/${p.spec.diskGiB} GiB, host has ${c.vcpus}/${c.memMiB}/${c.diskGiB}`,
    };
  }
  return { kind: "accept" };
}

export const enqueue = (s: HostState, p: Placement): HostState => (owns(s, p.vmId) ? s : { ...s, queue: [...s.queue, p] });

const fits = (s: HostState, spec: JobSpec): boolean => {
  const u = used(s);
  return (
    s.running.length < s.maxConcurrent &&
    u.vcpus + spec.vcpus <= s.capacity.vcpus &&
    u.memMiB + spec.memMiB <= s.capacity.memMiB &&
    u.diskGiB + spec.diskGiB <= s.capacity.diskGiB
  );
};

/** Moves placements from the head of the queue to running while they fit; returns the ones to start. */
export function admit(s: HostState): { state: HostState; start: Placement[] } {
  let state = s;
  const start: Placement[] = [];
  while (state.queue.length && fits(state, state.queue[0]!.spec)) {
    const [head, ...rest] = state.queue;
    state = { ...state, queue: rest, running: [...state.running, head!] };
    start.push(head!);
  }
  return { state, start };
}

/** The VM is destroyed (or never started): its resources are free. */
export const finish = (s: HostState, vmId: string): HostState => ({
  ...s,
  queue: s.queue.filter((p) => p.vmId !== vmId),
  running: s.running.filter((p) => p.vmId !== vmId),
});

export const cordon = (s: HostState): HostState => ({ ...s, cordoned: true });
export const uncordon = (s: HostState): HostState => ({ ...s, cordoned: false, draining: false, deregistered: false });
export const drain = (s: HostState): HostState => ({ ...s, cordoned: true, draining: true });
export const deregistered = (s: HostState): HostState => ({ ...s, deregistered: true });

/** Draining and nothing left to finish: time to append HostDeregistered (once). */
export const shouldDeregister = (s: HostState): boolean => s.draining && !s.deregistered && s.queue.length === 0 && s.running.length === 0;
