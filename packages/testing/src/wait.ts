/** Thrown by a `waitFor` probe to stop waiting at once (e.g. the process being watched exited). */
export class WaitAborted extends Error {}

/**
 * Polls `probe` until it returns a truthy value; fails with `what` after the timeout. A probe that
 * throws `WaitAborted` ends the wait with that error; other errors are retried (the last one is
 * in the timeout's message). `detail` adds context to the timeout's message (e.g. a log's tail).
 */
export async function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 50, detail?: () => string): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      if (e instanceof WaitAborted) throw e;
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  const more = detail ? `\n${detail()}` : "";
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${last ? `: ${String(last)}` : ""}${more}`);
}
