#!/usr/bin/env node
import { Command } from "commander";
import { CliError } from "./client/connection.js";

const program = new Command("oneshot")
  .description("one-shot microVMs for CI: every job in its own VM, destroyed after")
  .enablePositionalOptions()
  .showHelpAfterError();

// Each command's module is loaded only when it runs: `oneshot run` is on a job's path, and
// loading every command (the stack, the doctor, hostd's checks) cost it about half a second.
// Anything else (help, an unknown command) loads them all, so commander can list them.
type Registers = (p: Command) => void;
const commands: Record<string, () => Promise<Registers[]>> = {
  up: async () => [(await import("./commands/up.js")).upCommand],
  demo: async () => [(await import("./commands/up.js")).upCommand],
  run: async () => [(await import("./commands/run.js")).runCommand],
  events: async () => [(await import("./commands/events.js")).eventsCommand],
  jobs: async () => [(await import("./commands/jobs-hosts.js")).jobsCommand],
  hosts: async () => [(await import("./commands/jobs-hosts.js")).hostsCommand],
  state: async () => [(await import("./commands/state.js")).stateCommand],
  admin: async () => [(await import("./commands/admin.js")).adminCommand],
  doctor: async () => [(await import("./commands/doctor.js")).doctorCommand],
};
const named = commands[process.argv[2] ?? ""];
const registers = named ? await named() : (await Promise.all(Object.values(commands).map((load) => load()))).flat();
for (const register of registers) register(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof CliError) {
    process.stderr.write(`oneshot: ${e.message}\n`);
    process.exit(e.exitCode);
  }
  process.stderr.write(`oneshot: ${(e as Error).message ?? String(e)}\n`);
  process.exit(1);
});
