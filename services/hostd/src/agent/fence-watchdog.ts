// The fence watchdog (docs/fencing.md): a process of its own, started by hostd, so that the
// lease holds even when hostd cannot act (frozen by SIGSTOP, an event loop that hangs, a crash).
// hostd tells it, after every acknowledged heartbeat, how much of its lease is left and which
// VMM processes run; when that time passes without a renewal it SIGKILLs those processes. It
// never starts anything. When hostd goes away it still keeps the last deadline, then exits.
// Input: JSON lines on stdin, `{"leaseMs": n, "vmms": [{"vmId", "pid"}]}`, or `{"bye": true}`.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { vmmsToKill, type WatchedVmm } from "./fence-watchdog-plan.js";

const initialLeaseMs = Number(process.argv[2] ?? "30000");
let deadline = performance.now() + initialLeaseMs;
let vmms: WatchedVmm[] = [];
let hostdGone = false;

const log = (level: number, msg: string, o: Record<string, unknown> = {}) =>
  process.stderr.write(`${JSON.stringify({ level, time: Date.now(), service: "hostd-fence-watchdog", pid: process.pid, ...o, msg })}\n`);

const cmdline = (pid: number): string | undefined => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return undefined;
  }
};

createInterface({ input: process.stdin })
  .on("line", (line) => {
    try {
      const m = JSON.parse(line) as { leaseMs?: number; vmms?: WatchedVmm[]; bye?: boolean };
      if (m.bye) process.exit(0);
      if (typeof m.leaseMs === "number") deadline = performance.now() + m.leaseMs;
      if (Array.isArray(m.vmms)) vmms = m.vmms;
    } catch (e) {
      log(40, "unreadable line from hostd: ignored", { err: String(e) });
    }
  })
  .on("close", () => {
    hostdGone = true;
    log(40, "hostd went away: keeping its lease until it runs out", { leftMs: Math.round(deadline - performance.now()), vmms: vmms.length });
  });

setInterval(() => {
  const late = performance.now() - deadline;
  if (late < 0) return;
  if (vmms.length) {
    const kill = vmmsToKill(vmms, cmdline);
    for (const v of kill) {
      try {
        process.kill(v.pid, "SIGKILL");
      } catch {
        // Gone between the check and the kill: what we wanted.
      }
    }
    log(50, "lease ran out without a renewal: VMM processes killed (fence)", { lateMs: Math.round(late), killed: kill, skipped: vmms.length - kill.length });
    vmms = [];
  }
  if (hostdGone) process.exit(0);
}, 200);
