import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { codeVersionOf, hasShapeOf, type SnapshotHead, type SnapshotVersion } from "@oneshot/runtime";
import { initialState, type ReconcileState } from "./projection.js";

/** Key prefix of the reconciler's snapshots in KV bucket `snapshots` (`reconcile.head`). */
export const RECONCILE_SNAPSHOT_NAME = "reconcile";
/** Bumped by hand when the encoding of the state changes. */
export const RECONCILE_SNAPSHOT_SCHEMA = 1;

/**
 * The version a snapshot must carry to be read: the schema, a hash of this folder (the fold in
 * projection.ts and the loop that also keeps `redelivered` marks in it) and the stream's creation time.
 */
export function reconcileSnapshotVersion(streamCreated: string): SnapshotVersion {
  return { schema: RECONCILE_SNAPSHOT_SCHEMA, code: `${codeVersionOf(dirname(fileURLToPath(import.meta.url)))}@${streamCreated}` };
}

export const isReconcileState = (s: unknown, head: SnapshotHead): s is ReconcileState =>
  hasShapeOf(initialState(), s) && (s as ReconcileState).readSeq <= head.seq;
