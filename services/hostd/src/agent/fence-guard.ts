import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { Logger } from "@oneshot/runtime";
import type { WatchedVmm } from "./fence-watchdog-plan.js";

/** hostd's handle on its fence watchdog process (fence-watchdog.ts). */
export interface FenceGuard {
  /** After an acknowledged heartbeat: how much lease is left, and the VMM processes running now. */
  renew(leaseLeftMs: number, vmms: readonly WatchedVmm[]): void;
  /** A clean stop (no VM left): the watchdog exits at once. */
  stop(): void;
}

/**
 * Starts the watchdog as a separate process, so a frozen hostd cannot keep it from acting. If
 * it dies, hostd starts another at the next renewal: the lease is only as good as the watchdog.
 */
export function startFenceGuard(leaseMs: number, log: Logger): FenceGuard {
  const entry = join(import.meta.dirname, "fence-watchdog.js");
  let child: ChildProcess | undefined;
  const ensure = (leftMs: number): ChildProcess => {
    if (child && child.exitCode === null && child.signalCode === null) return child;
    child = spawn(process.execPath, [entry, String(Math.max(0, Math.round(leftMs)))], { stdio: ["pipe", "inherit", "inherit"] });
    child.on("exit", (code, signal) => {
      if (code !== 0) log.warn({ code, signal }, "fence watchdog exited; starting another at the next renewal");
    });
    child.stdin!.on("error", () => undefined);
    log.info({ pid: child.pid, leaseMs }, "fence watchdog started");
    return child;
  };
  ensure(leaseMs);
  return {
    renew(leaseLeftMs, vmms) {
      const c = ensure(leaseLeftMs);
      c.stdin!.write(`${JSON.stringify({ leaseMs: Math.max(0, Math.round(leaseLeftMs)), vmms: vmms.map(({ vmId, pid }) => ({ vmId, pid })) })}\n`);
    },
    stop() {
      if (child && child.exitCode === null) child.stdin!.end(`${JSON.stringify({ bye: true })}\n`);
    },
  };
}
