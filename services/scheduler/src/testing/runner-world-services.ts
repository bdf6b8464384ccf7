// Ingest, the reconciler and hostd as the simulation needs them (see runner-world.ts).
import type { DomainEvent, Stored } from "@oneshot/proto";
import { vmDestroyed, vmExited, vmBooted } from "./fixtures.js";
import type { GhJob, GithubModel, Step, World } from "./runner-world.js";

const nameOf = (hostId: string, vmId: string) => `oneshot-${hostId}-${vmId}`;
const SPEC = (j: GhJob) => ({ arch: "amd64" as const, vcpus: j.vcpus, memMiB: j.vcpus * 2048, diskGiB: 10, image: "minimal", timeoutSec: 600 });

/** Webhooks → events, forward only per job (queued < started < ended); a runner name in a late webhook still says who ran it. */
export class Ingest {
  private rank = new Map<string, number>();
  private queuedWritten = new Set<string>();
  constructor(
    private readonly w: World,
    private readonly gh: GithubModel,
  ) {}

  step(s: Step): void {
    for (const d of this.gh.takeDue()) this.apply(s, d.kind, this.gh.jobs.get(d.jobId)!, "webhook");
  }

  /** Every reconcile period: failed deliveries again, and jobs ingest holds as open read from GitHub. */
  reconcile(s: Step): void {
    for (const d of this.gh.redeliverFailed()) this.apply(s, d.kind, this.gh.jobs.get(d.jobId)!, "webhook");
    for (const [id, r] of this.rank) {
      const j = this.gh.jobs.get(id)!;
      if (r < 2 && (j.status === "completed" || j.status === "cancelled")) this.apply(s, "completed", j, "reconcile");
      else if (r < 1 && j.status === "in_progress") this.apply(s, "in_progress", j, "reconcile");
    }
  }

  private apply(s: Step, kind: "queued" | "in_progress" | "completed", j: GhJob, by: "webhook" | "reconcile"): void {
    const r = this.rank.get(j.id) ?? -1;
    const out: { event: DomainEvent; msgId: string }[] = [];
    if (kind === "queued") {
      // A late queued still says what the job is (the scheduler must boot nothing for it).
      if (r < 2 && !this.queuedWritten.has(j.id)) {
        this.queuedWritten.add(j.id);
        out.push({
          event: {
            type: "JobQueued",
            data: {
              jobId: j.id,
              source: { provider: "github", repo: `${j.org}/r`, org: j.org, providerJobId: j.id, labels: j.labels, ownerType: "Organization" },
              spec: SPEC(j),
            },
          },
          msgId: `q:${j.id}`,
        });
      }
      this.rank.set(j.id, Math.max(r, 0));
    } else {
      if (r < 1 && j.runner) {
        const [, hostId, vmId] = /^oneshot-(.+)-([^-]+)$/.exec(j.runner)!;
        out.push({
          event: { type: "JobStarted", data: { jobId: j.id, runnerName: j.runner, hostId: hostId!, vmId: vmId!, reportedBy: by } },
          msgId: `s:${j.id}`,
        });
        this.rank.set(j.id, 1);
      }
      if (kind === "completed" && r < 2) {
        out.push({
          event:
            j.status === "cancelled"
              ? { type: "JobCancelled", data: { jobId: j.id, reason: "cancelled before pickup" } }
              : { type: "JobCompleted", data: { jobId: j.id, conclusion: "success", exitCode: null, reportedBy: by === "webhook" ? "provider" : "reconcile" } },
          msgId: `c:${j.id}`,
        });
        this.rank.set(j.id, 2);
      }
    }
    s.append(out);
  }
}

/** VmIdle → ask GitHub: a candidate running on this runner → JobStarted; else remove the runner → VmRetired; busy → next tick. */
export class Reconciler {
  private seen = 0;
  private checks: { hostId: string; vmId: string; name: string; candidates: string[] }[] = [];
  constructor(
    private readonly w: World,
    private readonly gh: GithubModel,
  ) {}

  step(s: Step): void {
    for (; this.seen < this.w.log.length; this.seen++) {
      const e = this.w.log[this.seen]!;
      if (e.type === "VmIdle") this.checks.push({ hostId: e.data.hostId, vmId: e.data.vmId, name: e.data.runnerName, candidates: e.data.candidateJobIds });
    }
    this.checks = this.checks.filter((c) => {
      const ran = c.candidates.find((id) => this.gh.jobs.get(id)?.ranOn.includes(c.name));
      if (ran) {
        s.append([
          {
            event: {
              type: "JobStarted",
              data: { jobId: ran, runnerName: c.name, hostId: c.hostId, vmId: c.vmId, reportedBy: "reconcile", reason: "the runner took it" },
            },
            msgId: `s:${ran}`,
          },
        ]);
        return false;
      }
      const r = this.gh.runners.get(c.name);
      if (r?.busy) return true; // GitHub refuses to delete a busy runner: look again next tick
      if (r) r.removed = true;
      else this.gh.retired.add(c.name);
      s.append([
        {
          event: { type: "VmRetired", data: { hostId: c.hostId, vmId: c.vmId, reason: r ? "runner removed" : "no runner registered" } },
          msgId: `retired:${c.hostId}:${c.vmId}`,
        },
      ]);
      return false;
    });
  }
}

interface Vm {
  hostId: string;
  vmId: string;
  jobId: string;
  phase: "scheduled" | "requested" | "booted" | "gone";
  due: number;
  kill: boolean;
  bootedAt?: number;
  everBusy: boolean;
}

/** hostd: boots each placement after a while (sometimes failing), kills retired VMs at once, ends a VM whose runner finished its job. */
export class HostdModel {
  vms = new Map<string, Vm>();
  idleMs = 0;
  constructor(
    private readonly rng: { int(a: number, b: number): number; chance(p: number): boolean },
    private readonly w: World,
    private readonly gh: GithubModel,
  ) {}

  see(e: Stored<DomainEvent>): void {
    if (e.type === "JobScheduled") {
      this.vms.set(`${e.data.hostId}/${e.data.vmId}`, {
        hostId: e.data.hostId,
        vmId: e.data.vmId,
        jobId: e.data.jobId,
        phase: "scheduled",
        due: this.w.t + this.rng.int(1, 3) * 5_000,
        kill: false,
        everBusy: false,
      });
    } else if (e.type === "VmRetired") {
      const vm = this.vms.get(`${e.data.hostId}/${e.data.vmId}`);
      if (vm) vm.kill = true;
    }
  }

  step(s: Step): void {
    for (const vm of this.vms.values()) {
      if (vm.phase === "gone") continue;
      const ref = { hostId: vm.hostId, vmId: vm.vmId, jobId: vm.jobId };
      const runner = this.gh.runners.get(nameOf(vm.hostId, vm.vmId));
      if (runner?.busy) vm.everBusy = true;
      const end = (reason: "exited" | "killed") => {
        if (reason === "killed" && runner?.busy) this.w.violations.push(`retired VM ${vm.vmId} while it ran ${runner.busy}`);
        vm.phase = "gone";
        s.append([
          { event: vmExited(ref, reason === "exited" ? 0 : null, reason), msgId: `vm:${vm.vmId}:VmExited` },
          { event: vmDestroyed(ref), msgId: `vm:${vm.vmId}:VmDestroyed` },
        ]);
      };
      if (vm.kill || runner?.done) end(vm.kill ? "killed" : "exited");
      else if (vm.phase === "scheduled" && vm.due <= this.w.t) {
        vm.phase = "requested";
        vm.due = this.w.t + this.rng.int(1, 3) * 5_000;
        s.append([{ event: { type: "VmBootRequested", data: { ...ref, tap: null, disks: [] } }, msgId: `vm:${vm.vmId}:VmBootRequested` }]);
      } else if (vm.phase === "requested" && vm.due <= this.w.t) {
        if (this.rng.chance(0.05)) {
          vm.phase = "gone";
          s.append([
            { event: { type: "VmBootFailed", data: { ...ref, code: "agent-timeout", reason: "sim", consoleTail: "" } }, msgId: `vm:${vm.vmId}:VmBootFailed` },
            { event: vmDestroyed(ref), msgId: `vm:${vm.vmId}:VmDestroyed` },
          ]);
        } else {
          vm.phase = "booted";
          vm.bootedAt = this.w.t;
          s.append([{ event: vmBooted(ref), msgId: `vm:${vm.vmId}:VmBooted` }]);
        }
      } else if (vm.phase === "booted" && !runner?.busy) this.idleMs += 5_000;
    }
  }

  /** A booted VM whose runner never took a job must be gone within the deadline + a reconcile period. */
  checkIdle(limitMs: number): void {
    for (const vm of this.vms.values()) {
      if (vm.phase === "booted" && !vm.everBusy && this.w.t - vm.bootedAt! > limitMs) {
        this.w.violations.push(`VM ${vm.vmId} (booted for ${vm.jobId}) idle ${(this.w.t - vm.bootedAt!) / 1000}s`);
        vm.everBusy = true; // report once
      }
    }
  }

  drained(): boolean {
    return this.liveVms().length === 0;
  }
  liveVms(): string[] {
    return [...this.vms.values()].filter((v) => v.phase !== "gone").map((v) => `${v.hostId}/${v.vmId}`);
  }
}
