import { OneshotError } from "@oneshot/runtime";

export type ReconcileApiErrorCode = "rate-limited" | "unavailable" | "refused" | "unexpected";

/**
 * A provider API call of the reconciler that did not give an answer it can act on. Names the
 * call (method and path, never a token or a body) and the status; `rate-limited` and
 * `unavailable` are retryable (the next tick tries again), `refused` (401/403) is not.
 */
export class ReconcileApiError extends OneshotError {
  constructor(
    readonly provider: "github" | "gitlab",
    readonly code: ReconcileApiErrorCode,
    readonly call: string,
    readonly status: number,
    message: string,
    readonly retryAfterMs?: number,
    cause?: unknown,
  ) {
    super(`${provider} ${call}: ${message}`, { retryable: code === "rate-limited" || code === "unavailable", cause });
  }
}
