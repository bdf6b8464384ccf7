import type { CiProvider } from "../port.js";

/**
 * Local jobs (`POST /v1/jobs`, http/jobs-route.ts): no webhook, no runner to mint (the guest
 * runs the job's inline script, `JobScheduled.script`), no API to reconcile against.
 */
export function localProvider(): CiProvider {
  return { name: "local" };
}
