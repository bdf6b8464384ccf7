import type { Command } from "commander";
import { createLogger } from "@oneshot/runtime";
import { CliError, connect } from "../client/connection.js";
import { envVarFor, natsConfig } from "../admin/nats-config.js";
import { provisionAll } from "../admin/provision.js";

const hostList = (v: string) => v.split(",").map((h) => h.trim()).filter(Boolean);

export function adminCommand(program: Command): void {
  const admin = program.command("admin").description("operator tasks: NATS identities, streams, host provisioning");
  admin
    .command("nats-config")
    .description("print a nats-server config with one least-privilege user per service and per host")
    .requiredOption("--hosts <ids>", "comma-separated host ids, e.g. metal-01,metal-02")
    .option("--port <port>", "client port", "4222")
    .option("--store-dir <dir>", "JetStream store directory", "/data")
    .option("--audit <users>", "comma-separated read-only audit identities (each starting with `audit`)", "audit")
    .action((o: { hosts: string; port: string; storeDir: string; audit: string }) => {
      const hosts = hostList(o.hosts);
      const audit = hostList(o.audit);
      try {
        process.stdout.write(natsConfig({ hosts, port: Number(o.port), storeDir: o.storeDir, monitorPort: 8222, audit }));
      } catch (e) {
        throw new CliError((e as Error).message);
      }
      process.stderr.write(`set these in nats-server's environment (each starting with a letter, e.g. pw$(openssl rand -hex 24): nats-server reads 9e2… as a number): ${["admin", "ingest", "scheduler", "janitor", ...hosts.map((h) => `hostd-${h}`), ...audit].map(envVarFor).join(" ")}\n`);
    });
  admin
    .command("init")
    .description("create the streams and each host's work consumer (run with the admin identity)")
    .option("--hosts <ids>", "comma-separated host ids to provision", "")
    .action(async (o: { hosts: string }) => {
      const { nats, close } = await connect();
      const done = await provisionAll(nats, hostList(o.hosts), createLogger("cli", { level: "warn", fd: 2 }));
      await close();
      process.stdout.write(`streams ready${done.length ? `; hosts: ${done.join(", ")}` : ""}\n`);
    });
}
