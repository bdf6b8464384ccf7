import { readFileSync } from "node:fs";
import { join } from "node:path";
import { EventEmitter } from "node:events";
import { EventStore, connectNats, createLogger, exitWith, listenOn, loadConfig, newEventId, onShutdown } from "@oneshot/runtime";
import { Sessions } from "./auth.js";
import { DashboardEnv } from "./config.js";
import { followConsole } from "./console-feed.js";
import { emptyDashboard } from "./core/dashboard-state.js";
import { createDashboardServer } from "./http/server.js";
import { startLiveFeed } from "./live-feed.js";

// The fleet in a browser: follows EVENTS, TELEMETRY and LOGS as its own read-only identity,
// pushes views to pages over server-sent events, and appends cordon/uncordon/drain/cancel for
// an operator signed in with the admin token.
const config = loadConfig("dashboard", DashboardEnv);
const log = createLogger("dashboard", { level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
const adminToken = readToken(config.DASHBOARD_ADMIN_TOKEN_FILE);
const shutdown = onShutdown(log);
const clock = () => Date.now();

let nats;
try {
  nats = await connectNats(
    {
      url: config.NATS_URL,
      name: "oneshot-dashboard",
      user: config.NATS_USER,
      password: config.NATS_PASSWORD,
      nkeySeedFile: config.NATS_NKEY_FILE,
      caFile: config.NATS_CA_FILE,
    },
    log,
  );
} catch (e) {
  process.stderr.write(`oneshot-dashboard: ${(e as Error).message}\n`);
  process.exit(69); // EX_UNAVAILABLE
}
shutdown.add("nats", () => nats.nc.drain());
const store = new EventStore(nats.js, nats.jsm);
const state = emptyDashboard({ jobsKept: config.DASHBOARD_JOBS_KEPT, eventsKept: config.DASHBOARD_EVENTS_KEPT });
const changes = new EventEmitter().setMaxListeners(0);

const feed = await startLiveFeed({
  nats,
  store,
  state,
  log,
  clock,
  onChange: () => changes.emit("change"),
  onFatal: (err) => {
    log.fatal({ err }, "event log follow failed");
    void shutdown.run(1);
  },
});
shutdown.add("live-feed", () => feed.stop());

const server = createDashboardServer({
  state,
  caughtUp: feed.caughtUp,
  clock,
  log,
  publicDir: join(import.meta.dirname, "..", "public"),
  sessions: new Sessions(adminToken, config.DASHBOARD_SESSION_TTL * 1000, clock),
  onChange: (f) => {
    changes.on("change", f);
    return () => void changes.off("change", f);
  },
  append: (event, correlationId) => store.append(event, { correlationId: correlationId ?? `dashboard-${newEventId()}` }),
  followConsole: (where, raw, onText) => followConsole(nats, where, raw, onText),
});
await listenOn(server, config.DASHBOARD_PORT, config.DASHBOARD_HOST, "the dashboard").catch((e: Error) => exitWith("dashboard", e));
shutdown.add("http", () => {
  server.closeAllConnections(); // server-sent event streams never end by themselves
  return new Promise((r) => server.close(r));
});
const address = server.address();
const port = typeof address === "object" && address ? address.port : config.DASHBOARD_PORT;
log.info({ url: `http://${config.DASHBOARD_HOST}:${port}/`, signIn: adminToken !== undefined }, "dashboard listening");

/** The admin token from its file, or undefined (read-only). A named file that cannot be read stops the process. */
function readToken(file: string | undefined): string | undefined {
  if (!file) return undefined;
  let token: string;
  try {
    token = readFileSync(file, "utf8").trim();
  } catch (e) {
    process.stderr.write(
      `oneshot-dashboard: invalid configuration: DASHBOARD_ADMIN_TOKEN_FILE: cannot read it (${(e as NodeJS.ErrnoException).code ?? "error"})\n`,
    );
    process.exit(78); // EX_CONFIG
  }
  if (token.length < 16) {
    process.stderr.write("oneshot-dashboard: invalid configuration: DASHBOARD_ADMIN_TOKEN_FILE: the token must be at least 16 characters\n");
    process.exit(78);
  }
  return token;
}
