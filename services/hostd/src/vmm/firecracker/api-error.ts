import { VmmError } from "../port.js";

/** Codes of the VmmErrors this driver throws. */
export const FC_ERROR = {
  api: "firecracker-api",
  unreachable: "firecracker-unreachable",
  exited: "vmm-exited",
  alreadyRunning: "already-running",
  poolExhausted: "uid-pool-exhausted",
  badId: "bad-vm-id",
} as const;

/**
 * A Firecracker API refusal as a typed boot failure (pure): the `fault_message` of its 4xx
 * body, else the raw body, prefixed with the call it concerns.
 */
export function apiFault(vmId: string, method: string, path: string, status: number, rawBody: string): VmmError {
  let fault: string | undefined;
  try {
    const parsed = JSON.parse(rawBody) as { fault_message?: unknown };
    if (typeof parsed.fault_message === "string") fault = parsed.fault_message;
  } catch {
    // not JSON: fall through to the raw text
  }
  const detail = fault ?? (rawBody.trim().slice(0, 500) || "(empty body)");
  return new VmmError(vmId, FC_ERROR.api, `Firecracker ${method} ${path} → ${status}: ${detail}`);
}
