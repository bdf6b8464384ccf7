import { isRetryable } from "@oneshot/runtime";

export class DeadlineExceeded extends Error {
  override readonly name = "DeadlineExceeded";
  readonly retryable = true;
  constructor(
    readonly ms: number,
    cause?: unknown,
  ) {
    super(`not stored within ${ms} ms`, cause === undefined ? undefined : { cause });
  }
}

/**
 * Runs `attempt` until it succeeds, retrying retryable failures (NATS down, a concurrent
 * append, a GitLab API hiccup) every `retryEveryMs`, and gives up with DeadlineExceeded after
 * `ms`: a webhook sender waits 10 s at most, and a 5xx makes it deliver again later.
 *
 * An attempt still in flight at the deadline may complete afterwards; that is safe because
 * every append carries the delivery's msgId and is decided from the job's own history, so the
 * redelivery finds it stored and stores nothing more.
 */
export async function withinDeadline<T>(ms: number, attempt: () => Promise<T>, retryEveryMs = 250): Promise<T> {
  let expired = false;
  let last: unknown;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired = true;
      reject(new DeadlineExceeded(ms, last));
    }, ms);
  });
  const loop = (async () => {
    for (;;) {
      try {
        return await attempt();
      } catch (e) {
        if (!isRetryable(e) || expired) throw e;
        last = e;
        await new Promise((r) => setTimeout(r, retryEveryMs));
        if (expired) throw e;
      }
    }
  })();
  loop.catch(() => undefined); // the deadline may have answered already
  try {
    return await Promise.race([loop, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
