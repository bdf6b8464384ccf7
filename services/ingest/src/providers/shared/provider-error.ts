import type { Provider, RunnerConfigErrorCode } from "@oneshot/proto";
import type { z } from "zod";

export type ProviderErrorCode = Extract<
  z.infer<typeof RunnerConfigErrorCode>,
  "duplicate-name" | "invalid" | "rate-limited" | "provider-error" | "not-configured" | "not-found" | "not-runnable"
>;

/**
 * A CI provider's API call that did not give what we asked, as a code hostd can act on
 * (RunnerConfigReply). Messages name the call and the status, never a token or a config.
 */
export class ProviderError extends Error {
  override readonly name = "ProviderError";
  readonly retryable: boolean;
  constructor(
    readonly provider: Provider,
    readonly code: ProviderErrorCode,
    message: string,
    readonly retryAfterSec?: number,
    readonly status?: number,
  ) {
    super(message);
    this.retryable = code === "rate-limited" || code === "provider-error";
  }
}

/** Seconds to wait from `retry-after`, or from a rate-limit reset time (epoch seconds). */
export function retryAfterSec(headers: { get(name: string): string | null | undefined }, nowMs: number): number | undefined {
  const after = Number(headers.get("retry-after") ?? NaN);
  if (Number.isFinite(after) && after >= 0) return Math.ceil(after);
  if (headers.get("x-ratelimit-remaining") === "0") {
    const reset = Number(headers.get("x-ratelimit-reset") ?? NaN);
    if (Number.isFinite(reset)) return Math.max(1, Math.ceil(reset - nowMs / 1000));
  }
  return undefined;
}
