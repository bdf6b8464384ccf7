import type { VmExit } from "../port.js";
import type { FirecrackerApi } from "./api-client.js";

/**
 * Waits until Firecracker answers `GET /` on its socket, or its process exits first (a
 * refused jailer argv, a missing binary), or `timeoutMs` passes.
 */
export async function waitForApi(api: FirecrackerApi, exited: Promise<VmExit>, timeoutMs: number): Promise<"ready" | "exited" | "timeout"> {
  let done = false;
  void exited.then(() => (done = true));
  const deadline = Date.now() + timeoutMs;
  while (!done && Date.now() < deadline) {
    try {
      await api.get("/");
      return "ready";
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return done ? "exited" : "timeout";
}
