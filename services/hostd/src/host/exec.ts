import { spawn } from "node:child_process";

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program (never through a shell) and collects its output. */
export type Exec = (cmd: string, args: string[], opts?: { input?: string; timeoutMs?: number }) => Promise<ExecResult>;

export class CommandError extends Error {
  override readonly name = "CommandError";
  readonly retryable = false;
  constructor(
    readonly command: string,
    readonly result: ExecResult,
  ) {
    super(`${command} failed (${result.code}): ${result.stderr.trim().slice(0, 500) || result.stdout.trim().slice(0, 500)}`);
  }
}

export const exec: Exec = (cmd, args, opts = {}) =>
  new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], timeout: opts.timeoutMs ?? 60_000 });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.once("error", (e) => resolve({ code: 127, stdout, stderr: stderr + e.message }));
    p.once("close", (code) => resolve({ code, stdout, stderr }));
    p.stdin.on("error", () => undefined);
    p.stdin.end(opts.input ?? "");
  });

/** Runs and throws CommandError on a non-zero exit. */
export async function run(execFn: Exec, cmd: string, args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<string> {
  const r = await execFn(cmd, args, opts);
  if (r.code !== 0) throw new CommandError(`${cmd} ${args.join(" ")}`, r);
  return r.stdout;
}
