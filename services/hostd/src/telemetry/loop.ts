import type { Logger } from "@oneshot/runtime";

/**
 * Runs `tick` now and then every `everySec` seconds, never two at once (a slow tick skips the
 * next one instead of piling up). Returns a stop function that waits for a running tick.
 */
export function every(everySec: number, what: string, tick: () => Promise<void>, log: Logger): () => Promise<void> {
  let running: Promise<void> | undefined;
  const fire = () => {
    if (running) return;
    running = tick()
      .catch((err: unknown) => log.warn({ err, what }, "periodic task failed"))
      .finally(() => (running = undefined));
  };
  fire();
  const timer = setInterval(fire, everySec * 1000);
  return async () => {
    clearInterval(timer);
    await running;
  };
}
