// The scheduler's pure core: what `oneshot state --at`, benches and tests import.
export * from "./core/state.js";
export { setPhase, finish } from "./core/job-phase.js";
export { covers, runnerScope } from "./core/runner-scope.js";
export { evolve, fold } from "./core/evolve.js";
export { place, defaultPolicy } from "./core/place.js";
export type { Decision, DecisionEvent } from "./core/decision.js";
export type { Policy } from "./core/follow-ups.js";
export { conclusionOf } from "./core/follow-ups.js";
export { fairOrder } from "./core/fairness.js";
export { neverFits } from "./core/feasibility.js";
export { bestFitScore } from "./core/score.js";
export { requiredLabels, hasLabels } from "./core/host-labels.js";
export { historyOf } from "./core/history.js";
// Its snapshots, for `oneshot state --at` (the same fold, so the same snapshots): the version
// this code reads, and the loader.
export { schedulerSnapshotVersion, loadSnapshot as loadSchedulerSnapshot, SCHEDULER_SNAPSHOT_SCHEMA } from "./loop/snapshots.js";
