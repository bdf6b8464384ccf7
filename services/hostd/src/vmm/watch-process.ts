import type { ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { pipeCapped } from "./capped-log.js";
import type { VmExit } from "./port.js";

/**
 * What every driver does with its VMM process: console (stdout) to a size-capped log, the
 * last 8 KiB of stderr kept for error messages and written to `stderrFile` at exit, and an
 * exit promise that resolves only once the console is flushed (so the last markers are read).
 */
export function watchVmmProcess(
  child: ChildProcess,
  o: { consoleLog: string; consoleMaxBytes: number; stderrFile: string; onExit: () => void },
): { exited: Promise<VmExit>; stderr: () => string } {
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8192)));
  const consoleDone = pipeCapped(child.stdout!, o.consoleLog, o.consoleMaxBytes);
  const exited = new Promise<VmExit>((resolve) => {
    child.once("error", (e) => (stderr += `\n${e.message}`));
    child.once("close", (code, signal) => {
      void consoleDone.then(async () => {
        o.onExit();
        if (stderr) await writeFile(o.stderrFile, stderr).catch(() => undefined);
        resolve({ code, signal });
      });
    });
  });
  return { exited, stderr: () => stderr };
}

/** Whether a process exists (signal 0). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
