import { subjects } from "@oneshot/proto";
import type { Command } from "commander";
import { CliError, connect } from "../client/connection.js";
import { concerns, humanLine, parseSince, toJson } from "../view/event-line.js";

export function eventsCommand(program: Command): void {
  program
    .command("events")
    .description("the audit log: print (or follow) events, oldest first")
    .option("-f, --follow", "keep printing new events")
    .option("--since <seq|time|duration>", "start at a sequence, an ISO time, or e.g. 10m ago")
    .option("--job <id>", "only events about this job")
    .option("--host <id>", "only events about this host")
    .option("--json", "one JSON object per line: {seq, subject, type, version, time, id, correlationId, causationId, data}")
    .action(async (o: { follow?: boolean; since?: string; job?: string; host?: string; json?: boolean }) => {
      let since: ReturnType<typeof parseSince> | undefined;
      try {
        since = o.since ? parseSince(o.since, new Date()) : undefined;
      } catch (e) {
        throw new CliError((e as Error).message);
      }
      const { store, close } = await connect({ readOnly: true });
      const print = (e: Parameters<typeof humanLine>[0]) => {
        if (!concerns(e, { job: o.job, host: o.host })) return;
        process.stdout.write(`${o.json ? JSON.stringify(toJson(e)) : humanLine(e)}\n`);
      };
      const onDecodeError = (e: Error) => process.stderr.write(`skipping undecodable message: ${e.message}\n`);
      const end = await store.lastStreamSeq();
      await store.replay(subjects.allEvents, print, { ...since, untilSeq: end, onDecodeError });
      if (!o.follow) {
        await close();
        return;
      }
      const stop = await store.follow(subjects.allEvents, print, { startSeq: end + 1, onDecodeError });
      await new Promise<void>((resolve) => process.once("SIGINT", resolve));
      await stop();
      await close();
    });
}
