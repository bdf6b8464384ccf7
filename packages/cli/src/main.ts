#!/usr/bin/env node
import { Command } from "commander";
import { CliError } from "./client/connection.js";
import { adminCommand } from "./commands/admin.js";
import { doctorCommand } from "./commands/doctor.js";
import { eventsCommand } from "./commands/events.js";
import { hostsCommand, jobsCommand } from "./commands/jobs-hosts.js";
import { runCommand } from "./commands/run.js";
import { stateCommand } from "./commands/state.js";
import { upCommand } from "./commands/up.js";

const program = new Command("oneshot")
  .description("one-shot microVMs for CI: every job in its own VM, destroyed after")
  .enablePositionalOptions()
  .showHelpAfterError();
upCommand(program);
runCommand(program);
eventsCommand(program);
jobsCommand(program);
hostsCommand(program);
stateCommand(program);
adminCommand(program);
doctorCommand(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof CliError) {
    process.stderr.write(`oneshot: ${e.message}\n`);
    process.exit(e.exitCode);
  }
  process.stderr.write(`oneshot: ${(e as Error).message ?? String(e)}\n`);
  process.exit(1);
});
