import type { Registry } from "prom-client";
import type { Logger } from "pino";
import type { z } from "zod";
import { BaseEnv, loadConfig } from "./config.js";
import { EventStore } from "./event-store.js";
import { createLogger } from "./logger.js";
import { connectNats, ensureStreams, type Nats } from "./nats.js";
import { ListenError, createRegistry, startOpsServer, type HealthCheck } from "./ops-server.js";
import { onShutdown } from "./shutdown.js";

export interface Service<C> {
  config: C;
  log: Logger;
  nats: Nats;
  store: EventStore;
  registry: Registry;
  shutdown: ReturnType<typeof onShutdown>;
  /** Starts `/healthz` + `/metrics` on `port`; NATS connectivity is always one of the checks. */
  startOps: (port: number, checks?: HealthCheck[]) => Promise<void>;
}

/**
 * The start every service shares: config parsed once (a bad variable stops the process with
 * one line), one root logger, NATS with endless reconnects, streams ensured, metrics,
 * graceful shutdown that drains NATS last.
 */
export async function bootService<S extends typeof BaseEnv>(name: string, schema: S): Promise<Service<z.infer<S>>> {
  const config = loadConfig(name, schema) as z.infer<typeof BaseEnv> & z.infer<S>;
  const log = createLogger(name, { level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
  const shutdown = onShutdown(log);
  let nats: Nats;
  try {
    nats = await connectNats(
      {
        url: config.NATS_URL,
        name: `oneshot-${name}`,
        user: config.NATS_USER,
        password: config.NATS_PASSWORD,
        nkeySeedFile: config.NATS_NKEY_FILE,
        caFile: config.NATS_CA_FILE,
      },
      log,
    );
  } catch (e) {
    process.stderr.write(`oneshot-${name}: ${(e as Error).message}\n`);
    process.exit(69); // EX_UNAVAILABLE
  }
  shutdown.add("nats", () => nats.nc.drain());
  await ensureStreams(nats.jsm, log);
  const registry = createRegistry(name);
  return {
    config,
    log,
    nats,
    registry,
    shutdown,
    store: new EventStore(nats.js, nats.jsm),
    startOps: async (port, checks = []) => {
      const server = await startOpsServer(port, registry, [{ name: "nats", check: () => !nats.nc.isClosed() }, ...checks]).catch((e: Error) =>
        exitWith(name, e),
      );
      shutdown.add("ops-server", () => new Promise((r) => server.close(r)));
      log.info({ port }, "health and metrics listening");
    },
  };
}

/** A service that cannot listen stops with one line naming the cause (exit 69), not a stack trace. */
export function exitWith(service: string, e: Error): never {
  if (!(e instanceof ListenError)) throw e;
  process.stderr.write(`oneshot-${service}: ${e.message}\n`);
  process.exit(69); // EX_UNAVAILABLE
}
