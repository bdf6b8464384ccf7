import { describe, expect, it } from "vitest";
import { ConsoleMarkers } from "./console-markers.js";
import { bootFailure, exitOutcome } from "./outcome.js";

describe("console markers", () => {
  it("finds the agent's markers in chunks split anywhere, CRLF or not", () => {
    const m = new ConsoleMarkers();
    const stream = "[    0.3] kernel line\r\nONESHOT-AGENT-RE" + "ADY\r\nONESHOT-JOB-START kind=local job=x\nhello\nONESHOT-JOB-EX" + "IT=3\n";
    const seen: string[] = [];
    for (let i = 0; i < stream.length; i += 7) seen.push(...m.push(stream.slice(i, i + 7)));
    expect(seen).toEqual(["ONESHOT-AGENT-READY", "ONESHOT-JOB-START kind=local job=x", "ONESHOT-JOB-EXIT=3"]);
    expect([m.agentReady, m.jobStarted, m.exitCode]).toEqual([true, true, 3]);
  });

  it("takes the LAST exit marker (a job can print a fake one) and ignores markers that do not start a line", () => {
    const m = new ConsoleMarkers();
    m.push("ONESHOT-AGENT-READY\nONESHOT-JOB-EXIT=0\necho ONESHOT-JOB-EXIT=9\nONESHOT-JOB-EXIT=42\n");
    expect(m.exitCode).toBe(42);
    m.push("  ONESHOT-JOB-EXIT=1\nONESHOT-JOB-EXIT=1x\n");
    expect(m.exitCode).toBe(42);
  });

  it("does not count a marker line until it ends, and keeps agent errors", () => {
    const m = new ConsoleMarkers();
    m.push("ONESHOT-JOB-EXIT=1");
    expect(m.exitCode).toBeUndefined();
    m.push("2\nONESHOT-AGENT-ERROR no script on the config drive\nONESHOT-JOB-EXIT=125\n");
    expect(m.exitCode).toBe(125);
    expect(m.agentError).toBe("no script on the config drive");
    expect(m.agentReady).toBe(false);
  });

  it("never buffers an endless line", () => {
    const m = new ConsoleMarkers();
    m.push("x".repeat(100_000));
    m.push("\nONESHOT-AGENT-READY\n");
    expect(m.agentReady).toBe(true);
  });
});

describe("VmExited verdict", () => {
  it("reports the job's own exit code", () => {
    expect(exitOutcome(3, undefined)).toEqual({ exitCode: 3, reason: "exited" });
    expect(exitOutcome(0, "timeout")).toEqual({ exitCode: 0, reason: "exited" });
  });
  it("says timeout when hostd killed a VM past its deadline with no marker, crashed when it ended alone", () => {
    expect(exitOutcome(undefined, "timeout")).toEqual({ exitCode: null, reason: "timeout" });
    expect(exitOutcome(undefined, undefined)).toEqual({ exitCode: null, reason: "crashed" });
  });
  it("says killed for a reclaim or shutdown, keeping an exit code already reported", () => {
    expect(exitOutcome(undefined, "killed")).toEqual({ exitCode: null, reason: "killed" });
    expect(exitOutcome(1, "killed")).toEqual({ exitCode: 1, reason: "killed" });
  });
  it("names boot failures by cause", () => {
    expect(bootFailure({ vmmExited: true, timedOut: false, bootTimeoutSec: 9 }).code).toBe("vmm-exited");
    expect(bootFailure({ vmmExited: false, timedOut: true, bootTimeoutSec: 9 })).toEqual({ code: "agent-timeout", reason: "no ONESHOT-AGENT-READY within 9s of the VMM start" });
    expect(bootFailure({ vmmExited: true, timedOut: false, agentError: "bad config", bootTimeoutSec: 9 })).toEqual({ code: "agent-error", reason: "guest agent: bad config" });
    expect(bootFailure({ vmmExited: false, timedOut: false, killed: true, bootTimeoutSec: 9 }).code).toBe("killed");
  });
});
