// The world around the scheduler for core/runner-model.sim.unit.test.ts: GitHub (runners,
// jobs, lossy webhooks), ingest (forward only), the reconciler (VmIdle checks, lost-webhook
// recovery) and hostd (boots, kills). Pure and seeded: a failing seed replays exactly.
import type { DomainEvent, Stored } from "@oneshot/proto";
import type { SchedulerState } from "../core/state.js";

export interface World {
  t: number;
  log: Stored<DomainEvent>[];
  state: SchedulerState;
  msgIds: Set<string>;
  violations: string[];
}
export interface Step {
  append: (events: { event: DomainEvent; msgId?: string }[]) => void;
}

/** mulberry32: small, seeded, good enough to pick events. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
}

export interface GhJob {
  id: string;
  org: string;
  labels: string[];
  vcpus: number;
  status: "queued" | "in_progress" | "completed" | "cancelled";
  runner?: string;
  steps: number;
  ranOn: string[];
  queuedAt: number;
}
interface Runner {
  name: string;
  hostId: string;
  vmId: string;
  org: string;
  labels: string[];
  busy?: string;
  done: boolean;
  removed: boolean;
}
interface Delivery {
  kind: "queued" | "in_progress" | "completed";
  jobId: string;
  due: number;
}

export const runnerName = (hostId: string, vmId: string) => `oneshot-${hostId}-${vmId}`;

/** GitHub: hands a queued job to any idle runner whose labels cover it; its webhooks may be lost, repeated, late. */
export class GithubModel {
  jobs = new Map<string, GhJob>();
  runners = new Map<string, Runner>();
  /** VMs retired before their runner registered: it never will. */
  retired = new Set<string>();
  inFlight: Delivery[] = [];
  failed: Delivery[] = [];
  constructor(
    private readonly rng: Rng,
    private readonly w: World,
    private readonly lossy: boolean,
  ) {}

  queue(id: string, org: string, vcpus: number, gpu: boolean): void {
    const labels = ["self-hosted", `oneshot-${vcpus}cpu-${vcpus * 2}gb`, ...(gpu ? ["gpu"] : [])];
    this.jobs.set(id, { id, org, labels, vcpus, status: "queued", steps: 0, ranOn: [], queuedAt: this.w.t });
    this.deliver("queued", id);
  }

  private deliver(kind: Delivery["kind"], jobId: string): void {
    const d = () => ({ kind, jobId, due: this.w.t + this.rng.int(0, this.lossy ? 4 : 1) * 5_000 });
    if (this.lossy && this.rng.chance(0.15)) return void this.failed.push(d());
    this.inFlight.push(d());
    if (this.lossy && this.rng.chance(0.1)) this.inFlight.push(d());
  }

  /** Deliveries due now, in random order. */
  takeDue(): Delivery[] {
    const due = this.inFlight.filter((d) => d.due <= this.w.t);
    this.inFlight = this.inFlight.filter((d) => d.due > this.w.t);
    return due.sort(() => this.rng.next() - 0.5);
  }

  /** The reconciler asked for every failed delivery again (GitHub's deliveries API). */
  redeliverFailed(): Delivery[] {
    return this.failed.splice(0);
  }

  step(_: Step): void {
    for (const j of this.jobs.values()) {
      // Cancelled before pickup, soon after queueing (a later cancel would hide a stranded job).
      if (j.status === "queued" && this.w.t - j.queuedAt < 30_000 && this.rng.chance(0.05)) {
        j.status = "cancelled";
        this.deliver("completed", j.id);
      } else if (j.status === "queued" && this.rng.chance(0.6)) {
        const idle = [...this.runners.values()].filter(
          (r) => !r.removed && !r.done && !r.busy && r.org === j.org && j.labels.every((l) => r.labels.includes(l)),
        );
        if (idle.length === 0) continue;
        const r = this.rng.pick(idle);
        r.busy = j.id;
        j.status = "in_progress";
        j.runner = r.name;
        j.ranOn.push(r.name);
        j.steps = this.rng.int(1, 6);
        this.deliver("in_progress", j.id);
      } else if (j.status === "in_progress" && --j.steps <= 0) {
        j.status = "completed";
        const r = this.runners.get(j.runner!)!;
        r.done = true;
        delete r.busy;
        this.deliver("completed", j.id);
      }
    }
  }

  see(e: Stored<DomainEvent>): void {
    if (e.type === "VmBooted") {
      const name = runnerName(e.data.hostId, e.data.vmId);
      const j = this.jobs.get(e.data.jobId)!;
      if (!this.retired.has(name))
        this.runners.set(name, { name, hostId: e.data.hostId, vmId: e.data.vmId, org: j.org, labels: j.labels, done: false, removed: false });
    } else if (e.type === "VmDestroyed") {
      const r = this.runners.get(runnerName(e.data.hostId, e.data.vmId));
      if (r?.busy) this.w.violations.push(`VM ${e.data.vmId} destroyed while its runner ran ${r.busy}`);
      if (r) r.removed = true;
    }
  }

  drained(): boolean {
    const gaveUp = new Set(this.w.log.flatMap((e) => (e.type === "JobFailed" ? [e.data.jobId] : [])));
    return this.unfinished().every((u) => gaveUp.has(u.split(":")[0]!)) && this.inFlight.length === 0 && this.failed.length === 0;
  }
  unfinished(): string[] {
    return [...this.jobs.values()].filter((j) => j.status === "queued" || j.status === "in_progress").map((j) => `${j.id}:${j.status}`);
  }
}

export { HostdModel, Ingest, Reconciler } from "./runner-world-services.js";
