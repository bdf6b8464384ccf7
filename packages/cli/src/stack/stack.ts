import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { arch as osArch, availableParallelism } from "node:os";
import { join } from "node:path";
import { repoRoot, stateDir, upFile } from "./paths.js";
import { Supervisor, type ChildSpec } from "./supervisor.js";
import { connectNats, createLogger } from "@oneshot/runtime";
import type { UpInfo } from "../client/connection.js";
import { CliError } from "../client/connection.js";
import { natsConfig } from "../admin/nats-config.js";
import { ensureIdentities, seedFileOf } from "../admin/identities.js";
import { identityNames } from "../admin/nats-permissions.js";
import { ensurePki } from "../admin/pki.js";
import { provisionAll } from "../admin/provision.js";

export interface StackOptions {
  ingestPort: number;
  natsPort: number;
  emulateArch?: "arm64" | "amd64";
  /** Nodes of the local NATS: 1 (default) or a JetStream cluster (3: streams at R3), on loopback. */
  natsCluster?: number;
  /** Warm VMs of `oneshot run`'s default shape the native host keeps booted (docs/warm-pool.md); 0/absent: none. */
  warm?: number;
  report: (line: string) => void;
}

/** `oneshot run`'s default shape (1 vCPU, 512 MiB, 1 GiB, minimal) as a HOSTD_WARM_POOLS entry. */
export const defaultWarmPool = (n: number): string => `minimal/1/512/1=${n}`;

export const nativeArch = (): "amd64" | "arm64" => (osArch() === "arm64" ? "arm64" : "amd64");

/**
 * The native hostd's registry mirror (docs/registry-mirror.md): a pull-through cache of Docker Hub
 * its guests reach at their gateway, port 5000, kept in `<state>/registry-mirror` across stacks;
 * started and stopped with hostd. Off (and said so) where Debian's docker-registry is not installed.
 */
export function registryMirrorOf(state: string, subnet: string): { env: Record<string, string>; url: string; dir: string } | undefined {
  if (spawnSync("docker-registry", ["--version"]).status !== 0) return undefined;
  const dir = join(state, "registry-mirror");
  return { env: { HOSTD_REGISTRY_MIRROR: "auto", HOSTD_REGISTRY_MIRROR_DIR: dir }, url: `http://${subnet.replace(/0\/\d+$/, "1")}:5000`, dir };
}

/** Starts NATS, ingest, scheduler, janitor, the dashboard and one hostd (two with --emulate-arch). */
export async function startStack(o: StackOptions): Promise<{ info: UpInfo; stop: () => Promise<void>; mirror?: { url: string; dir: string } | undefined }> {
  const root = repoRoot();
  const state = stateDir();
  const logs = join(state, "logs");
  mkdirSync(logs, { recursive: true });
  requireBinary("nats-server", "apt-get install -y nats-server (or put nats-server 2.9+ on PATH)");
  for (const svc of ["ingest", "scheduler", "janitor", "hostd", "dashboard"]) {
    if (!existsSync(join(root, "services", svc, "dist", "main.js"))) throw new CliError("services are not built: run `npm run build` first");
  }
  const archs = [nativeArch(), ...(o.emulateArch && o.emulateArch !== nativeArch() ? [o.emulateArch] : [])];
  for (const a of archs) ensureImage(root, a, o.report);

  const apiToken = secretFile(join(state, "api-token"));
  const webhookSecret = secretFile(join(state, "github-webhook-secret"));
  const gitlabToken = secretFile(join(state, "gitlab-webhook-token"));
  const natsPort = await portOr(o.natsPort);
  const ingestPort = await portOr(o.ingestPort);
  const hostIds = archs.map((a) => `local-${a}${a === nativeArch() ? "" : "-emulated"}`);
  // The same identities, permissions, NKeys and TLS as production (`oneshot admin bootstrap`):
  // least privilege and certificate checks are exercised by the whole stack, not only by the
  // NATS-level tests. Seeds and the CA stay in the state dir (0600 / 0700).
  const identities = join(state, "nats-identities");
  const nkeys = ensureIdentities(identities, identityNames(hostIds, ["audit"], { dashboard: true }));
  const pki = await ensurePki(join(state, "tls"), ["127.0.0.1", "localhost"]);
  const nodes = o.natsCluster ?? 1;
  const natsPorts = [natsPort, ...(await Promise.all(Array.from({ length: nodes - 1 }, () => portOr(0))))];
  const routePorts = nodes > 1 ? await Promise.all(natsPorts.map(() => portOr(0))) : [];
  const natsUrl = natsPorts.map((p) => `tls://127.0.0.1:${p}`).join(",");
  const base = { NATS_URL: natsUrl, NATS_CA_FILE: pki.files.ca, ONESHOT_STATE_DIR: state, LOG_LEVEL: process.env.LOG_LEVEL ?? "info" };
  const as = (user: string) => ({ NATS_USER: user, NATS_NKEY_FILE: seedFileOf(identities, user) });
  const natsSpecs: ChildSpec[] = natsPorts.map((port, i) => {
    const name = nodes > 1 ? `nats-${i + 1}` : "nats";
    const conf = join(state, `${name}.conf`);
    writeFileSync(
      conf,
      natsConfig({
        hosts: hostIds,
        port,
        listen: "127.0.0.1",
        storeDir: join(state, name),
        audit: ["audit"],
        dashboard: true,
        nkeys,
        tls: { certFile: pki.files.cert, keyFile: pki.files.key },
        syncAlways: natsServerAtLeast(2, 10),
        ...(nodes > 1
          ? {
              cluster: {
                name: "oneshot-up",
                serverName: `n${i + 1}`,
                listen: `127.0.0.1:${routePorts[i]}`,
                routes: routePorts.map((r) => `nats-route://127.0.0.1:${r}`),
                caFile: pki.files.ca,
              },
            }
          : {}),
      }),
      { mode: 0o600 },
    );
    return { name, command: "nats-server", args: ["-c", conf], env: {}, ready: () => listening(port), stopGraceMs: 10_000 };
  });

  let crashed: ((why: string) => void) | undefined;
  const sup = new Supervisor(
    join(state, "logs"),
    join(state, "run"),
    (name, code, tail) => crashed?.(`${name} keeps exiting (last: ${code}):\n${tail}`),
    o.report,
  );
  const node = process.execPath;
  const svc = (name: string, port: number, env: Record<string, string>, stopGraceMs = 10_000): ChildSpec => ({
    name,
    command: node,
    args: [join(root, "services", name.replace(/-.*/, ""), "dist", "main.js")],
    env: { ...base, ...env },
    ready: () => healthy(port),
    stopGraceMs,
  });
  const schedulerPort = await portOr(9102);
  const janitorPort = await portOr(9104);
  const dashboardPort = await portOr(9110);
  const dashboardToken = join(state, "dashboard-admin-token");
  secretFile(dashboardToken);
  const specs: ChildSpec[] = [
    ...natsSpecs,
    svc("ingest", ingestPort, {
      INGEST_PORT: String(ingestPort),
      ONESHOT_API_TOKEN: apiToken,
      GITHUB_WEBHOOK_SECRET: webhookSecret,
      GITLAB_WEBHOOK_TOKEN: gitlabToken,
      ...as("ingest"),
    }),
    svc("scheduler", schedulerPort, { SCHEDULER_HTTP_PORT: String(schedulerPort), ...as("scheduler") }),
    svc("janitor", janitorPort, { JANITOR_HTTP_PORT: String(janitorPort), ...as("janitor") }),
    svc("dashboard", dashboardPort, { DASHBOARD_PORT: String(dashboardPort), DASHBOARD_ADMIN_TOKEN_FILE: dashboardToken, ...as("dashboard") }),
  ];
  const hosts: string[] = [];
  const mirror = registryMirrorOf(state, `172.${Number(process.env.ONESHOT_UP_SUBNET_BASE ?? 30)}.0.0/16`);
  for (const [i, a] of archs.entries()) {
    const port = await portOr(9103 + i * 10);
    const hostId = hostIds[i]!;
    hosts.push(hostId);
    specs.push(
      svc(
        `hostd-${a}`,
        port,
        {
          ...as(`hostd-${hostId}`),
          HOSTD_HOST_ID: hostId,
          HOSTD_HTTP_PORT: String(port),
          HOSTD_ARCH: a,
          HOSTD_IMAGE_DIR: join(root, "images", "out"),
          // Distinct bridge and subnet per local host; ONESHOT_UP_BRIDGE_PREFIX/SUBNET_BASE let
          // tests run a stack beside another one.
          HOSTD_BRIDGE: `${process.env.ONESHOT_UP_BRIDGE_PREFIX ?? "osbr"}${i}`,
          HOSTD_SUBNET: `172.${Number(process.env.ONESHOT_UP_SUBNET_BASE ?? 30) + i}.0.0/16`,
          ...(i === 0 && mirror ? mirror.env : {}),
          // --warm N: the pool's vCPUs come on top of what the host offers cold work (the pool's
          // capacity is withheld from registration), unless the operator set the capacity.
          ...(o.warm && i === 0
            ? {
                HOSTD_WARM_POOLS: defaultWarmPool(o.warm),
                ...(process.env.HOSTD_MAX_VCPUS ? {} : { HOSTD_MAX_VCPUS: String(Math.max(1, availableParallelism() - 1) + o.warm) }),
              }
            : {}),
        },
        60_000,
      ),
    );
  }

  for (const s of specs) {
    o.report(`starting ${s.name}`);
    await sup.start(s, s.name.startsWith("hostd") ? 300_000 : 60_000);
    if (s === natsSpecs.at(-1)) {
      if (nodes > 1) o.report(`NATS: a ${nodes}-node JetStream cluster, streams at R${nodes}`);
      await provision({ url: natsUrl, nkeySeedFile: seedFileOf(identities, "admin"), caFile: pki.files.ca }, hostIds, nodes > 1 ? nodes : undefined);
    }
  }
  const info: UpInfo = {
    natsUrl,
    ingestUrl: `http://127.0.0.1:${ingestPort}`,
    apiToken,
    pid: process.pid,
    hosts,
    natsUser: "admin",
    natsNkeyFile: seedFileOf(identities, "admin"),
    natsCaFile: pki.files.ca,
    auditUser: "audit",
    auditNkeyFile: seedFileOf(identities, "audit"),
    dashboardUrl: `http://127.0.0.1:${dashboardPort}/`,
  };
  writeFileSync(upFile(), JSON.stringify(info, null, 2), { mode: 0o600 });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await sup.stopAll(o.report);
    rmSync(upFile(), { force: true });
  };
  crashed = (why) => {
    o.report(why);
    void stop().then(() => process.exit(1));
  };
  return { info, stop, mirror: mirror && { url: mirror.url, dir: mirror.dir } };
}

function requireBinary(bin: string, how: string): void {
  if (spawnSync("sh", ["-c", `command -v ${bin}`]).status !== 0) throw new CliError(`${bin} not found: ${how}`);
}

function ensureImage(root: string, arch: string, report: (s: string) => void): void {
  const dir = process.env.HOSTD_IMAGE_DIR ?? join(root, "images", "out");
  if (existsSync(join(dir, arch, "manifest.json"))) return;
  report(`building the ${arch} guest image (once; a few minutes)`);
  const r = spawnSync(join(root, "images", "build-minimal.sh"), [arch], { stdio: "inherit" });
  if (r.status !== 0) throw new CliError(`building the ${arch} guest image failed: see the output above`);
}

/** Streams, buckets and each host's work consumer, as `oneshot admin init` makes them. */
async function provision(o: { url: string; nkeySeedFile: string; caFile: string }, hosts: string[], replicas?: number): Promise<void> {
  const log = createLogger("cli", { level: "warn", fd: 2 });
  const nats = await connectNats({ ...o, name: "oneshot-up", user: "admin" }, log);
  try {
    await provisionAll(nats, hosts, log, replicas === undefined ? {} : { replicas });
  } finally {
    await nats.nc.close();
  }
}

/** Whether the nats-server on PATH is at least major.minor (2.10 has `sync_interval`). */
function natsServerAtLeast(major: number, minor: number): boolean {
  const out = spawnSync("nats-server", ["--version"], { encoding: "utf8" }).stdout ?? "";
  const m = /v(\d+)\.(\d+)/.exec(out);
  return !!m && (Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor));
}

/** A random secret kept in a 0600 file, made on first use. */
function secretFile(path: string): string {
  if (!existsSync(path)) writeFileSync(path, randomBytes(24).toString("hex"), { mode: 0o600 });
  chmodSync(path, 0o600);
  return readFileSync(path, "utf8").trim();
}

/** `preferred` if free, else any free port. */
async function portOr(preferred: number): Promise<number> {
  const tryPort = (p: number) =>
    new Promise<number | undefined>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(undefined));
      s.listen(p, "127.0.0.1", () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
  return (await tryPort(preferred)) ?? (await tryPort(0))!;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
}

async function healthy(port: number): Promise<boolean> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1_000) });
    return r.ok;
  } catch {
    return false;
  }
}
