import type { Arch, JobSpec, Resources } from "@oneshot/proto";

/** A host as the scheduler sees it: what it offers, what is reserved on it, whether it may take work. */
export interface HostView {
  hostId: string;
  arch: Arch;
  capacity: Resources;
  /** Sum of the live allocations on this host. */
  used: Resources;
  /** Lowercased and sorted: a job runs only where every label it asks for is present. */
  labels: string[];
  /** Root images the host can boot (`HostRegistered.images`): a job goes only where its `spec.image` is. */
  images: string[];
  cordoned: boolean;
  draining: boolean;
  lost: boolean;
  /**
   * Declared lost (HostLost) and not yet known to have stopped its VMs: its reservations and
   * their claims stay until HostFenced, HostLeaseExpired or each VM's own VmDestroyed/VmVanished
   * (docs/fencing.md). Cleared by those, and by a HostRegistered (a restarted hostd destroyed
   * what it could not follow before registering).
   */
  fencePending: boolean;
  /** The last HostLost's reason, for the requeue's. */
  lostReason?: string;
  deregistered: boolean;
}

/** Why a job lost its claim, kept until the scheduler has written what follows from it. */
export type Outcome =
  | { kind: "boot-failed"; hostId: string; vmId: string; code: string; reason: string }
  | { kind: "destroyed"; hostId: string; vmId: string; exitCode: number | null; exitReason: string | null }
  | { kind: "host-lost"; hostId: string; vmId: string; reason: string }
  /** Another job's runner took the VM this job claimed; `inheritKey` is that job's own claim, freed by it. */
  | { kind: "displaced"; byJobId: string; hostId: string; vmId: string; inheritKey?: string }
  /** The claimed VM ended (destroyed, vanished, retired) without running anything; `counts`: toward maxAttempts. */
  | { kind: "vm-gone-unused"; hostId: string; vmId: string; reason: string; counts: boolean }
  /** A local job's VM vanished under it: SCHEDULER_VANISHED_POLICY says requeue or fail. */
  | { kind: "vanished"; hostId: string; vmId: string; reason: string };

/**
 * A job that is not finished yet.
 *  - pending:  waits for a claim (after JobQueued or JobRequeued)
 *  - placed:   claims a VM (JobScheduled or JobRebound); `hostId`/`vmId` name it
 *  - released: lost its claim; the scheduler owes a follow-up (rebind, requeue, fail, complete)
 *  - started:  a runner took it (JobStarted): never placed again; waits for the provider's end
 */
export interface JobView {
  jobId: string;
  /** Fairness key: FIFO within an org, round-robin across orgs. */
  org: string;
  /** Local jobs are bound to their VM and completed by the scheduler from its exit. */
  local: boolean;
  spec: JobSpec;
  /** Local jobs: the script, handed to hostd in JobScheduled. */
  script?: string;
  /** Host labels this job needs (see host-labels.ts). */
  requiredLabels: string[];
  /** Its runs-on labels, lowercased and sorted: what a runner must carry to take it. */
  labels: string[];
  /** Which runners may take it at all (see runner-scope.ts). */
  scope: string;
  /** Stream sequence of its first JobQueued: its place in its org's line, kept across requeues. */
  queuedSeq: number;
  attempt: number;
  bootFailures: number;
  phase: "pending" | "placed" | "released" | "started";
  hostId?: string;
  vmId?: string;
  outcome?: Outcome;
  /** Last sequence on `evt.job.<jobId>`: the expected sequence of a decision on the job subject. */
  subjectSeq: number;
  correlationId: string;
  /** The event the next decision about this job reacts to. */
  causationId: string;
}

/** A VM's capacity reservation, from its JobScheduled until VmDestroyed, VmVanished, PlacementExpired, or its lost host's fence. */
export interface Allocation {
  hostId: string;
  vmId: string;
  /** The job it was booted for. */
  jobId: string;
  attempt: number;
  res: Resources;
  arch: Arch;
  image: string;
  /** The job its capacity is held for (at most one; undefined: none). */
  claim?: string;
  /** The job a runner on it started (JobStarted naming it). */
  runningJobId?: string;
  /** Its runner's labels and scope (those of the job it was booted for); undefined when that job was unknown. */
  runner?: { labels: string[]; scope: string };
  /** A local job's VM: runs its script and nothing else. */
  bound: boolean;
  /** ms since epoch of VmBooted (or VmBootRequested until then). */
  bootedAtMs?: number;
  idleWritten: boolean;
  retired: boolean;
  /** How its booted-for claim ended, for VmIdle's reason. */
  freedBecause?: string;
  bootFailed?: { code: string; reason: string };
  exited?: { exitCode: number | null; reason: string };
  /** hostd claimed it (VmBootRequested or a later VM event): a PlacementExpired after that is void. */
  claimedByHost?: boolean;
  /** On a lost host that has not fenced yet: no job may be moved onto it, and it is never idled. */
  fencing?: boolean;
  /** Its placement preempted warm VMs (warm-vms.ts): `res` is its spec less their capacity, which it borrows. */
  lent?: boolean;
}

export interface SchedulerState {
  /** Stream sequence of the last event applied (0: none). */
  lastSeq: number;
  hosts: Map<string, HostView>;
  /** Last sequence of each host subject `evt.host.<id>`: what a placement there must expect. */
  hostSubjectSeq: Map<string, number>;
  /** Unfinished jobs, by id. */
  jobs: Map<string, JobView>;
  /** Ids of the jobs in phase `pending` / `released`: what a decision looks at, without scanning every job. */
  pending: Set<string>;
  released: Set<string>;
  /**
   * Jobs that reached an end (completed, cancelled, failed, ignored, unschedulable), with the
   * time of that end (ms, the event's occurredAt), in the order they ended. Forgotten
   * FINISHED_MEMORY_MS later (job-memory.ts): by then no delivery about them can arrive.
   */
  finished: Map<string, number>;
  /** Jobs a runner started before their JobQueued was read (a late JobQueued places nothing), with when; forgotten likewise. */
  startedEarly: Map<string, number>;
  /** Live reservations by `allocationKey(hostId, vmId)`. */
  allocations: Map<string, Allocation>;
  /** vmId → allocation key: JobStarted may name the VM without its host. */
  vmKeys: Map<string, string>;
  /** Allocations that are free (no claim, no running job, alive, unbound, not yet idle): what rebinding and VmIdle look at. */
  free: Set<string>;
  /** Unbound allocations with no running job, by boot time (insertion order ≈ boot order): the idle deadline's candidates. */
  waiting: Map<string, number>;
  /** Unstarted provider jobs by runner scope: who a free VM could serve. */
  scopeJobs: Map<string, Set<string>>;
  /** Sequence of the last placement of each org's jobs: the round-robin turn across orgs. */
  orgServedSeq: Map<string, number>;
  /** Ready warm pool VMs by VM id (warm-vms.ts); absent until the first VmWarmed. */
  warm?: Map<string, import("./warm-vms.js").WarmVm>;
}

export const initialState = (): SchedulerState => ({
  lastSeq: 0,
  hosts: new Map(),
  hostSubjectSeq: new Map(),
  jobs: new Map(),
  pending: new Set(),
  released: new Set(),
  finished: new Map(),
  startedEarly: new Map(),
  allocations: new Map(),
  vmKeys: new Map(),
  free: new Set(),
  waiting: new Map(),
  scopeJobs: new Map(),
  orgServedSeq: new Map(),
});

/** Two placements of one job attempt on two hosts share a vmId, so the host is part of the key. */
export const allocationKey = (hostId: string, vmId: string): string => `${hostId}/${vmId}`;

/** Placeable: registered and not cordoned, draining, lost or deregistered. */
export const isPlaceable = (h: HostView): boolean => !h.cordoned && !h.draining && !h.lost && !h.deregistered;

export const pendingCount = (s: SchedulerState): number => s.pending.size;
