/**
 * The CLI's read side for other workspaces (the dashboard): the folds behind `oneshot jobs` /
 * `hosts` / `events` and the console follower of `oneshot run`, so every view of the fleet
 * reads the log the same way. Nothing here connects, writes or reads the environment.
 */
export { applyToFleet, bar, emptyFleet, type Fleet, type HostRow, type JobRow, type JobState } from "./view/fleet.js";
// What the janitor needs to write the fleet's snapshots that `oneshot jobs` reads (it reads only this build's own code).
export { FLEET_SNAPSHOT_NAME, fleetSnapshotVersion, isFleet } from "./view/fleet-snapshot.js";
export { concerns, humanLine, summary, toJson, type EventJson } from "./view/event-line.js";
export { ConsoleFilter } from "./view/console-filter.js";
export { followVmOutput } from "./client/vm-output.js";
