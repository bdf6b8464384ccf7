import type { Command } from "commander";
import { join } from "node:path";
import { CliError } from "../client/connection.js";
import { stateDir } from "../stack/paths.js";
import { startStack } from "../stack/stack.js";
import { run } from "./run.js";

interface UpOptions {
  port: string;
  natsPort: string;
  emulateArch?: string;
  natsCluster: string;
  warm: string;
}

const say = (s: string) => process.stderr.write(`oneshot: ${s}\n`);

function parseUp(o: UpOptions) {
  if (o.emulateArch && o.emulateArch !== "arm64" && o.emulateArch !== "amd64") throw new CliError("--emulate-arch must be arm64 or amd64");
  const natsCluster = Number(o.natsCluster);
  if (natsCluster !== 1 && natsCluster !== 3 && natsCluster !== 5)
    throw new CliError("--nats-cluster must be 1, 3 or 5 (a JetStream cluster needs an odd number of nodes)");
  const warm = Number(o.warm);
  if (!Number.isInteger(warm) || warm < 0 || warm > 32) throw new CliError("--warm must be a whole number from 0 to 32");
  return {
    ingestPort: Number(o.port),
    natsPort: Number(o.natsPort),
    emulateArch: o.emulateArch as "arm64" | "amd64" | undefined,
    natsCluster,
    warm,
    report: say,
  };
}

const upOptions = (c: Command) =>
  c
    .option("--port <port>", "ingest's HTTP port (webhooks and the job API)", "8080")
    .option("--nats-port <port>", "NATS client port", "4222")
    .option("--emulate-arch <arch>", "also start an emulated host of this arch (arm64 on amd64): slow, for testing")
    .option("--nats-cluster <nodes>", "run NATS as a JetStream cluster of this many nodes on loopback (3: streams at R3)", "1")
    .option("--warm <n>", "keep N warm VMs of `oneshot run`'s default shape booted, so such jobs start without a boot (docs/warm-pool.md)", "0");

async function untilSignal(stop: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  say("stopping (VMs are destroyed first)…");
  await stop();
  say("stopped; nothing left running");
  // Log pipes of the children can keep the loop alive a while: we are done.
  process.exit(0);
}

function printWhere({ info, mirror }: Awaited<ReturnType<typeof startStack>>): void {
  const state = stateDir();
  process.stdout.write(
    [
      "",
      "oneshot is up.",
      `  GitHub webhook  POST ${info.ingestUrl}/webhooks/github   (secret in ${join(state, "github-webhook-secret")})`,
      `  GitLab hook     POST ${info.ingestUrl}/webhooks/gitlab   (token in ${join(state, "gitlab-webhook-token")})`,
      `  Job API         POST ${info.ingestUrl}/v1/jobs           (bearer token in ${join(state, "api-token")})`,
      `  NATS            ${info.natsUrl}`,
      ...(info.dashboardUrl ? [`  dashboard       ${info.dashboardUrl}   (admin token in ${join(state, "dashboard-admin-token")})`] : []),
      `  hosts           ${info.hosts.join(", ")}`,
      mirror
        ? `  registry mirror ${mirror.url} for the guests (Docker Hub, pull-through; cache in ${mirror.dir}/, kept across runs, stopped with hostd)`
        : "  registry mirror off: apt-get install docker-registry for a pull-through cache of Docker Hub (docs/registry-mirror.md)",
      `  logs            ${join(state, "logs")}/`,
      "",
      "  try:   oneshot run -- uname -a        (npx oneshot, or node packages/cli/dist/main.js)",
      "         oneshot events --follow",
      "  stop:  Ctrl-C",
      "",
    ].join("\n"),
  );
}

export function upCommand(program: Command): void {
  upOptions(program.command("up").description("start NATS, ingest, scheduler, janitor and a local hostd on this machine")).action(async (o: UpOptions) => {
    const stack = await startStack(parseUp(o));
    const { stop } = stack;
    printWhere(stack);
    await untilSignal(stop);
  });
  upOptions(program.command("demo").description("`oneshot up`, then run a demo job in a microVM"))
    .option("--exit", "stop everything after the demo job")
    .action(async (o: UpOptions & { exit?: boolean }) => {
      const stack = await startStack(parseUp(o));
      const { stop } = stack;
      printWhere(stack);
      say("demo job: uname -a; echo hello from a one-shot microVM");
      const code = await run(["sh", "-c", "uname -a; echo hello from a one-shot microVM"], {
        cpus: "1",
        mem: "256m",
        disk: "1",
        timeout: "5m",
        image: "minimal",
      }).catch(async (e) => {
        await stop();
        throw e;
      });
      say(`demo job exited ${code}`);
      if (o.exit) {
        await stop();
        process.exitCode = code;
        return;
      }
      await untilSignal(stop);
    });
}
