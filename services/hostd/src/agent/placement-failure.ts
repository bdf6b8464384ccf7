import { isRetryable } from "@oneshot/runtime";

/**
 * What a placement that hostd could not accept says in its VmBootFailed, or undefined when the
 * error is worth a redelivery (a NATS outage: the same placement may be accepted in a moment).
 * A file system error keeps its errno code (ENOSPC, EIO, EROFS, EDQUOT…) first in the reason,
 * so an operator sees at once that the disk is full; anything else is a bug and says so.
 */
export function placementFailure(err: unknown): { code: string; reason: string } | undefined {
  const e = err as { code?: unknown; message?: unknown; name?: unknown } | undefined;
  const errno = typeof e?.code === "string" && /^E[A-Z0-9]+$/.test(e.code) ? e.code : undefined;
  if (!errno && isRetryable(err)) return undefined;
  const message = typeof e?.message === "string" ? e.message : String(err);
  if (errno) return { code: "placement-failed", reason: `${errno}: ${message}`.slice(0, 1024) };
  return { code: "placement-failed", reason: `${typeof e?.name === "string" ? e.name : "Error"}: ${message}`.slice(0, 1024) };
}
