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
  cordoned: boolean;
  draining: boolean;
  lost: boolean;
  deregistered: boolean;
}

/** Why a placed job's VM is gone, kept until the scheduler has written what follows from it. */
export type Outcome =
  | { kind: "boot-failed"; hostId: string; vmId: string; code: string; reason: string }
  | { kind: "destroyed"; hostId: string; vmId: string; exitCode: number | null; exitReason: string | null }
  | { kind: "host-lost"; hostId: string; vmId: string; reason: string };

/**
 * A job that is not finished yet.
 *  - pending:  waits for a placement (after JobQueued or JobRequeued)
 *  - placed:   a JobScheduled reserved capacity for its current attempt
 *  - released: its VM is gone (destroyed, or its host lost); the scheduler owes a follow-up
 *              event (requeue, fail, or complete a local job)
 */
export interface JobView {
  jobId: string;
  /** Fairness key: FIFO within an org, round-robin across orgs. */
  org: string;
  /** Local jobs are completed by the scheduler from the VM's exit; provider jobs by webhooks. */
  local: boolean;
  spec: JobSpec;
  /** Local jobs: the script, handed to hostd in JobScheduled. */
  script?: string;
  /** Host labels this job needs (see host-labels.ts). */
  requiredLabels: string[];
  /** Stream sequence of its first JobQueued: its place in its org's line, kept across requeues. */
  queuedSeq: number;
  attempt: number;
  bootFailures: number;
  phase: "pending" | "placed" | "released";
  hostId?: string;
  vmId?: string;
  outcome?: Outcome;
  /** Last sequence on `evt.job.<jobId>`: the expected sequence of a decision on the job subject. */
  subjectSeq: number;
  correlationId: string;
  /** The event the next decision about this job reacts to. */
  causationId: string;
}

/** A capacity reservation, from its JobScheduled until VmDestroyed or HostLost. */
export interface Allocation {
  hostId: string;
  vmId: string;
  jobId: string;
  attempt: number;
  res: Resources;
  bootFailed?: { code: string; reason: string };
  exited?: { exitCode: number | null; reason: string };
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
  /** Jobs that reached an end (completed, cancelled, failed, ignored, unschedulable, or ran). */
  finished: Set<string>;
  /** Live reservations by `allocationKey(hostId, vmId)`. */
  allocations: Map<string, Allocation>;
  /** Sequence of the last placement of each org's jobs: the round-robin turn across orgs. */
  orgServedSeq: Map<string, number>;
}

export const initialState = (): SchedulerState => ({
  lastSeq: 0,
  hosts: new Map(),
  hostSubjectSeq: new Map(),
  jobs: new Map(),
  pending: new Set(),
  released: new Set(),
  finished: new Set(),
  allocations: new Map(),
  orgServedSeq: new Map(),
});

/** Two placements of one job attempt on two hosts share a vmId, so the host is part of the key. */
export const allocationKey = (hostId: string, vmId: string): string => `${hostId}/${vmId}`;

/** Placeable: registered and not cordoned, draining, lost or deregistered. */
export const isPlaceable = (h: HostView): boolean => !h.cordoned && !h.draining && !h.lost && !h.deregistered;

/** Moves a job to another phase, keeping the phase indexes in step. */
export function setPhase(s: SchedulerState, job: JobView, phase: JobView["phase"]): void {
  index(s, job.phase)?.delete(job.jobId);
  job.phase = phase;
  index(s, phase)?.add(job.jobId);
}

/** The job ended: later events about it change nothing (its VM keeps its reservation until destroyed). */
export function finish(s: SchedulerState, jobId: string): void {
  const job = s.jobs.get(jobId);
  if (job) index(s, job.phase)?.delete(jobId);
  s.jobs.delete(jobId);
  s.finished.add(jobId);
}

const index = (s: SchedulerState, phase: JobView["phase"]): Set<string> | undefined =>
  phase === "pending" ? s.pending : phase === "released" ? s.released : undefined;

export const pendingCount = (s: SchedulerState): number => s.pending.size;
