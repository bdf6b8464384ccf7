import { createServer, type Server } from "node:http";
import { Registry, collectDefaultMetrics } from "prom-client";

export interface HealthCheck {
  name: string;
  check: () => boolean | Promise<boolean>;
}

/** A Prometheus registry per service, with the process's default metrics. */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** `/healthz` (200 when every check passes, else 503 naming the failing ones) and `/metrics`. */
export async function startOpsServer(port: number, registry: Registry, checks: HealthCheck[], host = "0.0.0.0"): Promise<Server> {
  const server = createServer((req, res) => {
    void (async () => {
      if (req.url === "/metrics") {
        res.writeHead(200, { "content-type": registry.contentType });
        res.end(await registry.metrics());
        return;
      }
      if (req.url === "/healthz" || req.url === "/readyz") {
        const results = await Promise.all(checks.map(async (c) => [c.name, await Promise.resolve(c.check()).catch(() => false)] as const));
        const failing = results.filter(([, ok]) => !ok).map(([n]) => n);
        res.writeHead(failing.length ? 503 : 200, { "content-type": "application/json" });
        res.end(JSON.stringify({ status: failing.length ? "unhealthy" : "ok", failing }));
        return;
      }
      res.writeHead(404).end();
    })();
  });
  await listenOn(server, port, host, "health and metrics");
  return server;
}

/** Listens, or fails with one line naming the address, what it was for and why (EADDRINUSE → "in use"). */
export async function listenOn(server: import("node:http").Server, port: number, host: string | undefined, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => {
      const why =
        e.code === "EADDRINUSE"
          ? "the address is in use (another process listens there)"
          : e.code === "EACCES"
            ? "permission denied (a port below 1024 needs root)"
            : e.code === "EADDRNOTAVAIL"
              ? "no interface has that address"
              : (e.code ?? e.message);
      reject(new ListenError(`cannot listen on ${host ?? "*"}:${port} for ${what}: ${why}`));
    });
    server.listen(port, host, () => resolve());
  });
}

export class ListenError extends Error {
  override readonly name = "ListenError";
}
