import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { codeVersionOf, hasShapeOf, type SnapshotHead, type SnapshotVersion } from "@oneshot/runtime";
import { emptyFleet, type Fleet } from "./fleet.js";

/** Key prefix of the fleet read model's snapshots in KV bucket `snapshots` (`fleet.head`). */
export const FLEET_SNAPSHOT_NAME = "fleet";
/** Bumped by hand when the encoding of the Fleet changes. */
export const FLEET_SNAPSHOT_SCHEMA = 1;

/**
 * The version a fleet snapshot must carry to be read by `oneshot jobs` / `hosts`: the schema, a
 * hash of this folder (applyToFleet and its neighbours) and the stream's creation time. The
 * janitor writes them with the same read model (it imports this package's read-models), so one
 * build of the CLI and the janitor agree, and any other build replays instead.
 */
export function fleetSnapshotVersion(streamCreated: string): SnapshotVersion {
  return { schema: FLEET_SNAPSHOT_SCHEMA, code: `${codeVersionOf(dirname(fileURLToPath(import.meta.url)))}@${streamCreated}` };
}

/** A decoded fleet snapshot has every map of emptyFleet(). */
export const isFleet = (s: unknown, _head: SnapshotHead): s is Fleet => hasShapeOf(emptyFleet(), s);
