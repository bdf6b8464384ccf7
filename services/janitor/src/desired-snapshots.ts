import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { codeVersionOf, hasShapeOf, type SnapshotHead, type SnapshotVersion } from "@oneshot/runtime";
import { initialDesired, type DesiredState } from "./core/desired-state.js";
import type { HostSeen } from "./core/find-lost-hosts.js";

/** Bumped by hand when the snapshot's encoding changes (this file's shape, state-codec.ts). */
export const DESIRED_SNAPSHOT_SCHEMA = 1;

/**
 * The janitor's desired state as a snapshot (KV bucket `snapshots`, key `janitor.head`): the
 * fold's state and, per host, the sequences of the HostRegistered / HostLost it last read.
 * Not when it read them: that was the clock of the process that wrote the snapshot, and a
 * replayed event counts as read at start (liveness and the fence wait start again, as they do
 * after a full replay: never a host declared lost for a silence that was the janitor's).
 */
export interface DesiredSnapshot {
  desired: DesiredState;
  seen: Map<string, { registered?: number; lost?: number }>;
}

/** The schema, a hash of core/ (evolve and what it calls) and the stream's creation time. */
export function desiredSnapshotVersion(streamCreated: string): SnapshotVersion {
  return { schema: DESIRED_SNAPSHOT_SCHEMA, code: `${codeVersionOf(join(dirname(fileURLToPath(import.meta.url)), "core"))}@${streamCreated}` };
}

export function toSnapshot(desired: DesiredState, seen: ReadonlyMap<string, HostSeen>): DesiredSnapshot {
  const s = new Map<string, { registered?: number; lost?: number }>();
  for (const [hostId, h] of seen) s.set(hostId, { ...(h.registered ? { registered: h.registered.seq } : {}), ...(h.lost ? { lost: h.lost.seq } : {}) });
  return { desired, seen: s };
}

/** The `seen` map of a loaded snapshot: every sequence read `at` (now, the start). */
export function seenOf(snap: DesiredSnapshot, at: number): Map<string, HostSeen> {
  const out = new Map<string, HostSeen>();
  for (const [hostId, h] of snap.seen) {
    out.set(hostId, {
      ...(h.registered !== undefined ? { registered: { seq: h.registered, at } } : {}),
      ...(h.lost !== undefined ? { lost: { seq: h.lost, at } } : {}),
    });
  }
  return out;
}

export const isDesiredSnapshot = (s: unknown, head: SnapshotHead): s is DesiredSnapshot =>
  typeof s === "object" &&
  s !== null &&
  (s as DesiredSnapshot).seen instanceof Map &&
  hasShapeOf(initialDesired(), (s as DesiredSnapshot).desired) &&
  (s as DesiredSnapshot).desired.lastSeq <= head.seq;
