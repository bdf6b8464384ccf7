import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  codeVersionOf,
  hasShapeOf,
  loadSnapshot as loadAny,
  type LoadedSnapshot,
  type Logger,
  type SnapshotHead,
  type SnapshotStore,
  type SnapshotVersion,
} from "@oneshot/runtime";
import { initialState, type SchedulerState } from "../core/state.js";

export type { SnapshotPolicy } from "@oneshot/runtime";
export { SnapshotWriter } from "@oneshot/runtime";

/** Bumped by hand when the encoding of the state changes (state-codec.ts). */
export const SCHEDULER_SNAPSHOT_SCHEMA = 1;

/**
 * The version a snapshot must carry to be read: the schema, a hash of core/ (evolve and
 * everything it calls) and the creation time of the stream it was folded from. A scheduler of
 * other code, or on a stream recreated since, replays the whole log and writes its own.
 * `oneshot state --at` reads these snapshots too: it folds with the same core.
 */
export function schedulerSnapshotVersion(streamCreated: string): SnapshotVersion {
  return { schema: SCHEDULER_SNAPSHOT_SCHEMA, code: `${codeVersionOf(join(dirname(fileURLToPath(import.meta.url)), "..", "core"))}@${streamCreated}` };
}

/** A decoded snapshot is a scheduler state: every field of initialState(), of its kind, folded no further than the head says. */
const isSchedulerState = (s: unknown, head: SnapshotHead): s is SchedulerState => hasShapeOf(initialState(), s) && (s as SchedulerState).lastSeq <= head.seq;

/** The newest snapshot this code can read (before `at`, if given), or undefined (with the reason logged): then replay everything. */
export function loadSnapshot(
  store: SnapshotStore,
  version: SnapshotVersion,
  log: Pick<Logger, "info" | "warn">,
  at?: Date,
): Promise<LoadedSnapshot<SchedulerState> | undefined> {
  return loadAny(store, version, log, isSchedulerState, at ? { at } : {});
}
