import { covers } from "./runner-scope.js";
import type { Allocation, JobView, SchedulerState } from "./state.js";

/**
 * The free VMs during one decision: a scratch view of `state.free` by runner scope, each VM
 * taken by at most one job per round. Built on first use: most rounds have no free VM.
 */
export class FreeVms {
  readonly taken = new Set<string>();
  private byScope: Map<string, [string, Allocation][]> | undefined;
  constructor(private readonly s: SchedulerState) {}

  get any(): boolean {
    return this.s.free.size > this.taken.size;
  }

  /** A free VM that covers the job (`preferKey` first), now taken; undefined when none does. */
  pick = (job: JobView, preferKey?: string): Allocation | undefined => {
    if (!this.any) return undefined;
    if (preferKey !== undefined && this.s.free.has(preferKey) && !this.taken.has(preferKey)) {
      const a = this.s.allocations.get(preferKey);
      if (a && covers(a, job)) return this.take(preferKey, a);
    }
    for (const [key, a] of this.scope(job.scope)) if (!this.taken.has(key) && covers(a, job)) return this.take(key, a);
    return undefined;
  };

  private take(key: string, a: Allocation): Allocation {
    this.taken.add(key);
    return a;
  }

  private scope(scope: string): [string, Allocation][] {
    if (!this.byScope) {
      this.byScope = new Map();
      for (const key of this.s.free) {
        const a = this.s.allocations.get(key);
        if (!a?.runner) continue;
        const list = this.byScope.get(a.runner.scope);
        if (list) list.push([key, a]);
        else this.byScope.set(a.runner.scope, [[key, a]]);
      }
    }
    return this.byScope.get(scope) ?? [];
  }
}
