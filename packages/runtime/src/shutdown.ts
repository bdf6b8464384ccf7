import type { Logger } from "pino";

type Closer = () => Promise<unknown> | unknown;

/**
 * Graceful shutdown: on SIGTERM/SIGINT run closers in reverse order of registration
 * (stop consumers first, then drain NATS), then exit. A second SIGINT exits at once.
 */
export function onShutdown(log: Logger): { add: (name: string, c: Closer) => void; run: (code?: number) => Promise<void> } {
  const closers: [string, Closer][] = [];
  let running = false;
  const run = async (code = 0) => {
    if (running) return;
    running = true;
    for (const [name, c] of closers.reverse()) {
      try {
        await c();
      } catch (e) {
        log.warn({ err: e, step: name }, "shutdown step failed");
      }
    }
    log.info("stopped");
    process.exit(code);
  };
  const onSignal = (sig: string) => {
    // A second Ctrl-C forces; a SIGTERM during the stop (a supervisor) lets the stop finish.
    if (running) {
      if (sig === "SIGINT") process.exit(130);
      return;
    }
    log.info({ signal: sig }, "shutting down");
    void run(0);
  };
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGINT", () => onSignal("SIGINT"));
  return { add: (name, c) => void closers.push([name, c]), run };
}
