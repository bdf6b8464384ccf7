import type { Rng } from "./rng.js";
import { pick } from "./rng.js";

/**
 * The state of GitHub's Actions service as far as self-hosted runners see it, with GitHub's
 * documented assignment rules:
 *  - a queued job is offered to ANY online, idle runner whose labels are a superset of the job's
 *    `runs-on` labels (case-insensitive; every runner carries the implicit `self-hosted`), in its
 *    scope (repo runners: that repo; org runners: the org's repos), chosen by a seeded rng (or a
 *    test's chooser) — never "the runner booted for it", which GitHub does not know;
 *  - the runner must acquire the job within the re-offer window (GitHub: ~60 s), or the offer
 *    lapses and the job is offered again (perhaps to another runner);
 *  - a JIT runner takes exactly one job and is removed once it completes;
 *  - a job no runner covers stays queued; a job cancelled before pickup completes `cancelled`
 *    with `runner_id: null`.
 */
export type JobStatus = "queued" | "in_progress" | "completed";
export type Conclusion = "success" | "failure" | "cancelled" | "skipped" | "timed_out" | "neutral" | "action_required";

export interface ModelJob {
  id: number;
  runId: number;
  runAttempt: number;
  /** owner/name */
  repo: string;
  repoId: number;
  ownerType: "Organization" | "User";
  installationId: number;
  name: string;
  workflowName: string;
  headSha: string;
  headBranch: string;
  labels: string[];
  /** What the stand-in runner runs for it (POSIX sh). */
  script: string;
  status: JobStatus;
  conclusion: Conclusion | null;
  createdAt: string;
  startedAt: string;
  completedAt: string | null;
  runnerId: number | null;
  runnerName: string | null;
  /** The runner it is offered to and since when (still `queued` on GitHub's side). */
  offer?: { runnerId: number; at: number };
  /** How many times it was offered (re-offers included). */
  offers: number;
  cancelRequested?: boolean;
}

export type RunnerScope = { kind: "org"; org: string } | { kind: "repo"; repo: string };

export interface ModelRunner {
  id: number;
  name: string;
  /** As registered, plus `self-hosted`. */
  labels: string[];
  scope: RunnerScope;
  runnerGroupId: number;
  /** The secret the stand-in runner presents (inside its JIT config). */
  token: string;
  ephemeral: true;
  connected: boolean;
  lastSeen: number;
  /** The job it acquired (GitHub's "busy"). */
  jobId?: number;
  /** The job offered to it, not yet acquired. */
  offeredJobId?: number;
  removed: boolean;
  /** busy transitions, for the lagging REST `busy` flag. */
  busyHistory: { t: number; busy: boolean }[];
  createdAt: number;
}

export type Chooser = (job: ModelJob, candidates: ModelRunner[], rng: Rng) => ModelRunner | undefined;

export interface ActionsEvents {
  /** A job changed on GitHub's side in a way that sends a `workflow_job` webhook. */
  workflowJob(action: "queued" | "in_progress" | "completed", job: ModelJob): void;
  /** An offer was made (the runner's long poll is answered). */
  offered(job: ModelJob, runner: ModelRunner): void;
  /** The runner lost its registration (removed by the API, or after its one job). */
  runnerRemoved(runner: ModelRunner): void;
}

export const norm = (l: string) => l.trim().toLowerCase();

export function covers(runnerLabels: readonly string[], jobLabels: readonly string[]): boolean {
  const have = new Set(runnerLabels.map(norm));
  return jobLabels.every((l) => have.has(norm(l)));
}

const inScope = (r: ModelRunner, job: ModelJob) =>
  r.scope.kind === "repo" ? r.scope.repo.toLowerCase() === job.repo.toLowerCase() : job.repo.toLowerCase().startsWith(`${r.scope.org.toLowerCase()}/`);

export class ActionsModel {
  readonly jobs = new Map<number, ModelJob>();
  readonly runners = new Map<number, ModelRunner>();
  /** Runners removed (kept for the record). */
  readonly removedRunners: ModelRunner[] = [];
  /** Every acquisition: which runner ran which job (the "who runs where" fact). */
  readonly assignments: { jobId: number; runnerId: number; runnerName: string; at: number }[] = [];
  reofferMs: number;
  chooser: Chooser;
  paused = false;
  busyLagMs: number;
  private nextRunnerId = 1000;
  private timers = new Set<NodeJS.Timeout>();

  constructor(
    private rng: Rng,
    private ev: ActionsEvents,
    o: { reofferMs?: number; chooser?: Chooser; busyLagMs?: number } = {},
  ) {
    this.reofferMs = o.reofferMs ?? 60_000;
    this.chooser = o.chooser ?? ((_job, cands, rng) => pick(rng, cands));
    this.busyLagMs = o.busyLagMs ?? 0;
  }

  queueJob(j: Partial<ModelJob> & { id: number; repo: string; labels: string[] }): ModelJob {
    if (this.jobs.has(j.id)) throw new Error(`job ${j.id} exists`);
    const now = new Date().toISOString();
    const job: ModelJob = {
      runId: j.id * 10,
      runAttempt: 1,
      repoId: 1296269,
      ownerType: "Organization",
      installationId: 42,
      name: `job-${j.id}`,
      workflowName: "CI",
      headSha: "f83a356604ae3c5d03e1b46ef4d1ca77d64a90b0",
      headBranch: "main",
      script: "exit 0",
      ...j,
      status: "queued",
      conclusion: null,
      createdAt: now,
      startedAt: now,
      completedAt: null,
      runnerId: null,
      runnerName: null,
      offers: 0,
    };
    this.jobs.set(job.id, job);
    this.ev.workflowJob("queued", job);
    this.assign();
    return job;
  }

  registerRunner(r: { name: string; labels: string[]; scope: RunnerScope; runnerGroupId: number; token: string }): ModelRunner {
    const labels = [...new Set(["self-hosted", ...r.labels].map(norm))];
    const runner: ModelRunner = {
      id: ++this.nextRunnerId,
      name: r.name,
      labels,
      scope: r.scope,
      runnerGroupId: r.runnerGroupId,
      token: r.token,
      ephemeral: true,
      connected: false,
      lastSeen: 0,
      removed: false,
      busyHistory: [{ t: Date.now(), busy: false }],
      createdAt: Date.now(),
    };
    this.runners.set(runner.id, runner);
    return runner;
  }

  runnerByName(name: string): ModelRunner | undefined {
    return [...this.runners.values()].find((r) => r.name === name);
  }

  /** The runner connected (its long poll): it is online from now on. */
  connect(runnerId: number): ModelRunner | undefined {
    const r = this.runners.get(runnerId);
    if (!r || r.removed) return undefined;
    r.connected = true;
    r.lastSeen = Date.now();
    this.assign();
    return r;
  }

  online(r: ModelRunner): boolean {
    return r.connected && !r.removed;
  }

  /** The REST `busy` flag, lagging `busyLagMs` behind the truth as GitHub's does. */
  reportedBusy(r: ModelRunner): boolean {
    const at = Date.now() - this.busyLagMs;
    let b = false;
    for (const h of r.busyHistory) if (h.t <= at) b = h.busy;
    return b;
  }

  /** Offers queued jobs to idle online runners that cover them. */
  assign(): void {
    if (this.paused) return;
    const queued = [...this.jobs.values()]
      .filter((j) => j.status === "queued" && !j.offer && !j.cancelRequested)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id - b.id);
    for (const job of queued) {
      const cands = [...this.runners.values()].filter(
        (r) => this.online(r) && r.jobId === undefined && r.offeredJobId === undefined && inScope(r, job) && covers(r.labels, job.labels),
      );
      const r = this.chooser(job, cands, this.rng);
      if (!r) continue;
      job.offer = { runnerId: r.id, at: Date.now() };
      job.offers++;
      r.offeredJobId = job.id;
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.lapse(job.id, r.id);
      }, this.reofferMs);
      this.timers.add(t);
      this.ev.offered(job, r);
    }
  }

  /** The offer was not acquired in time: the job goes back to the queue and is offered again. */
  private lapse(jobId: number, runnerId: number): void {
    const job = this.jobs.get(jobId);
    const r = this.runners.get(runnerId);
    if (!job || job.status !== "queued" || job.offer?.runnerId !== runnerId) return;
    delete job.offer;
    if (r && r.offeredJobId === jobId) delete r.offeredJobId;
    this.assign();
  }

  /** The runner acquires the job offered to it: the job is in progress on it. */
  acquire(runnerId: number, jobId: number): { ok: true; job: ModelJob } | { ok: false; why: string } {
    const r = this.runners.get(runnerId);
    const job = this.jobs.get(jobId);
    if (!r || r.removed) return { ok: false, why: "runner removed" };
    if (!job || job.status !== "queued" || job.offer?.runnerId !== runnerId) return { ok: false, why: "job is not offered to this runner" };
    delete job.offer;
    delete r.offeredJobId;
    r.jobId = jobId;
    r.lastSeen = Date.now();
    r.busyHistory.push({ t: Date.now(), busy: true });
    job.status = "in_progress";
    job.startedAt = new Date().toISOString();
    job.runnerId = r.id;
    job.runnerName = r.name;
    this.assignments.push({ jobId, runnerId: r.id, runnerName: r.name, at: Date.now() });
    this.ev.workflowJob("in_progress", job);
    return { ok: true, job };
  }

  /** The runner reports its job's result; a JIT runner is removed afterwards. */
  complete(runnerId: number, jobId: number, exitCode: number): ModelJob | undefined {
    const r = this.runners.get(runnerId);
    const job = this.jobs.get(jobId);
    if (!r || !job || r.jobId !== jobId || job.status !== "in_progress") return undefined;
    job.status = "completed";
    job.conclusion = job.cancelRequested ? "cancelled" : exitCode === 0 ? "success" : "failure";
    job.completedAt = new Date().toISOString();
    r.busyHistory.push({ t: Date.now(), busy: false });
    this.ev.workflowJob("completed", job);
    this.removeRunner(r);
    return job;
  }

  /** Cancels a job. Before pickup: completed/cancelled with runner_id null at once. In progress: the runner's report concludes it `cancelled`. */
  cancel(jobId: number): ModelJob {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`no job ${jobId}`);
    if (job.status === "completed") return job;
    job.cancelRequested = true;
    if (job.status === "queued") {
      if (job.offer) {
        const r = this.runners.get(job.offer.runnerId);
        if (r?.offeredJobId === jobId) delete r.offeredJobId;
        delete job.offer;
      }
      job.status = "completed";
      job.conclusion = "cancelled";
      job.completedAt = new Date().toISOString();
      this.ev.workflowJob("completed", job);
      this.assign();
    }
    return job;
  }

  /** Removes a registration (API DELETE, or a JIT runner after its job). Refused while it runs a job. */
  removeRunner(r: ModelRunner, viaApi = false): "removed" | "busy" {
    if (viaApi && r.jobId !== undefined && this.jobs.get(r.jobId)?.status === "in_progress") return "busy";
    r.removed = true;
    r.connected = false;
    this.runners.delete(r.id);
    this.removedRunners.push(r);
    if (r.offeredJobId !== undefined) {
      const job = this.jobs.get(r.offeredJobId);
      if (job?.offer?.runnerId === r.id) delete job.offer;
      delete r.offeredJobId;
    }
    this.ev.runnerRemoved(r);
    this.assign();
    return "removed";
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
