import type { Command } from "commander";
import { createLogger } from "@oneshot/runtime";
import { CliError, connect } from "../client/connection.js";
import { envVarFor, natsConfig } from "../admin/nats-config.js";
import { identityNames, identityReport } from "../admin/nats-permissions.js";
import { ensureIdentities } from "../admin/identities.js";
import { bootstrap } from "../admin/bootstrap.js";
import { provisionAll } from "../admin/provision.js";

const hostList = (v: string) =>
  v
    .split(",")
    .map((h) => h.trim())
    .filter(Boolean);

/** A generator's refusal (a bad host id, an unreadable seed) as one CLI line. */
async function asCliError<T>(f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw e instanceof CliError ? e : new CliError((e as Error).message);
  }
}

export function adminCommand(program: Command): void {
  const admin = program.command("admin").description("operator tasks: NATS identities, streams, host provisioning");
  admin
    .command("bootstrap")
    .description("make (or extend) a deployment's NATS secrets: a CA and server certificate, one NKey per identity, and nats.conf")
    .requiredOption("--hosts <ids>", "comma-separated host ids, e.g. metal-01,metal-02")
    .requiredOption("--nats-name <names>", "comma-separated DNS names or IPs hosts dial NATS on (the certificate names them)")
    .option("--dir <dir>", "where to write (keep it out of git; compose reads ./secrets)", "secrets")
    .option("--audit <users>", "comma-separated read-only audit identities (each starting with `audit`)", "audit")
    .option("--container-uid <uid>", "uid the control containers run as (their seeds are chowned to it)", "1000")
    .option("--cluster <nodes>", "a JetStream cluster of this many nodes (3 or 5; compose.cluster.yaml runs 3)", "1")
    .action(async (o: { hosts: string; natsName: string; dir: string; audit: string; containerUid: string; cluster: string }) => {
      const cluster = Number(o.cluster);
      if (![1, 3, 5].includes(cluster)) throw new CliError("--cluster must be 1, 3 or 5");
      const notes = await asCliError(() =>
        bootstrap({
          dir: o.dir,
          hosts: hostList(o.hosts),
          audit: hostList(o.audit),
          natsNames: hostList(o.natsName),
          containerUid: Number(o.containerUid),
          cluster,
        }),
      );
      process.stdout.write(
        `wrote ${o.dir}/${cluster > 1 ? `nats-{1..${cluster}}.conf` : "nats.conf"}, ${o.dir}/tls/, ${o.dir}/identities/\n${notes.map((n) => `  ${n}\n`).join("")}`,
      );
    });
  admin
    .command("nats-config")
    .description("print a nats-server config with one least-privilege identity per service and per host")
    .requiredOption("--hosts <ids>", "comma-separated host ids, e.g. metal-01,metal-02")
    .option("--port <port>", "client port", "4222")
    .option("--store-dir <dir>", "JetStream store directory", "/data")
    .option("--audit <users>", "comma-separated read-only audit identities (each starting with `audit`)", "audit")
    .option("--identities <dir>", "log in with NKeys: public keys of the seeds in <dir> (missing seeds are made); without it, passwords from the environment")
    .option("--tls-cert <file>", "server certificate (chain): TLS required for every client")
    .option("--tls-key <file>", "server key")
    .option("--sync-always", "fsync before every ack (nats-server 2.10+)")
    .action(
      async (o: {
        hosts: string;
        port: string;
        storeDir: string;
        audit: string;
        identities?: string;
        tlsCert?: string;
        tlsKey?: string;
        syncAlways?: boolean;
      }) => {
        const hosts = hostList(o.hosts);
        const audit = hostList(o.audit);
        if (!!o.tlsCert !== !!o.tlsKey) throw new CliError("--tls-cert and --tls-key go together");
        await asCliError(() => {
          const nkeys = o.identities ? ensureIdentities(o.identities, identityNames(hosts, audit, { dashboard: true })) : undefined;
          process.stdout.write(
            natsConfig({
              hosts,
              port: Number(o.port),
              storeDir: o.storeDir,
              monitorPort: 8222,
              audit,
              dashboard: true,
              ...(nkeys ? { nkeys } : {}),
              ...(o.tlsCert && o.tlsKey ? { tls: { certFile: o.tlsCert, keyFile: o.tlsKey } } : {}),
              syncAlways: !!o.syncAlways,
            }),
          );
          if (!nkeys)
            process.stderr.write(
              `set these in nats-server's environment (each starting with a letter, e.g. pw$(openssl rand -hex 24): nats-server reads 9e2… as a number): ${identityNames(hosts, audit, { dashboard: true }).map(envVarFor).join(" ")}\n`,
            );
        });
      },
    );
  admin
    .command("identities")
    .description("print what each NATS identity may publish and subscribe to (Markdown), from the same rules nats-config uses")
    .requiredOption("--hosts <ids>", "comma-separated host ids")
    .option("--audit <users>", "comma-separated audit identities", "audit")
    .action(async (o: { hosts: string; audit: string }) => {
      await asCliError(() => process.stdout.write(identityReport({ hosts: hostList(o.hosts), audit: hostList(o.audit), dashboard: true })));
    });
  admin
    .command("init")
    .description("create the streams and each host's work consumer (run with the admin identity)")
    .option("--hosts <ids>", "comma-separated host ids to provision", "")
    .option("--replicas <n>", "stream and bucket replicas: 3 on a 3-node cluster (raises existing ones too); default: keep what exists, 1 for new")
    .action(async (o: { hosts: string; replicas?: string }) => {
      const replicas = o.replicas === undefined ? undefined : Number(o.replicas);
      if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 1 || replicas > 5)) throw new CliError("--replicas must be 1 to 5");
      const { nats, close } = await connect();
      const done = await provisionAll(nats, hostList(o.hosts), createLogger("cli", { level: "warn", fd: 2 }), replicas === undefined ? {} : { replicas });
      await close();
      process.stdout.write(`streams ready${replicas ? ` (R${replicas})` : ""}${done.length ? `; hosts: ${done.join(", ")}` : ""}\n`);
    });
}
