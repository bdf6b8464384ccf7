import { describe, expect, it } from "vitest";
import { ConsoleMarkers } from "./console-markers.js";
import { markerKeyTrailer, signMarker, verifyMarker } from "./marker-auth.js";
import { bootFailure, exitOutcome } from "./outcome.js";

const key = Buffer.alloc(32, 7);
const other = Buffer.alloc(32, 8);
const s = (text: string) => signMarker(key, text);

describe("console markers", () => {
  it("finds the agent's (signed) markers in chunks split anywhere, CRLF or not", () => {
    const m = new ConsoleMarkers(key);
    const stream = `[    0.3] kernel line\r\n${s("ONESHOT-AGENT-READY")}\r\n${s("ONESHOT-JOB-START kind=script job=x user=root")}\nhello\n${s("ONESHOT-JOB-EXIT=3")}\n`;
    const seen: string[] = [];
    for (let i = 0; i < stream.length; i += 7) seen.push(...m.push(stream.slice(i, i + 7)));
    expect(seen).toEqual(["ONESHOT-AGENT-READY", "ONESHOT-JOB-START kind=script job=x user=root", "ONESHOT-JOB-EXIT=3"]);
    expect([m.agentReady, m.jobStarted, m.exitCode, m.forged]).toEqual([true, true, 3, 0]);
  });

  it("ignores (and counts) marker text the job printed: no MAC, a wrong MAC, another VM's key, a MAC over other text", () => {
    const m = new ConsoleMarkers(key);
    m.push(`${s("ONESHOT-AGENT-READY")}\nONESHOT-JOB-EXIT=0\n`);
    m.push(`ONESHOT-JOB-EXIT=0 mac=${"0".repeat(64)}\n${signMarker(other, "ONESHOT-JOB-EXIT=0")}\n`);
    m.push(`ONESHOT-JOB-EXIT=0 mac=${s("ONESHOT-JOB-EXIT=7").split("mac=")[1]}\nONESHOT-AGENT-ERROR fake\n`);
    expect(m.exitCode).toBeUndefined();
    expect(m.agentError).toBeUndefined();
    expect(m.forged).toBe(5);
    m.push(`${s("ONESHOT-JOB-EXIT=7")}\n`);
    expect(m.exitCode).toBe(7);
  });

  it("needs the marker at the start of the line and an exact exit marker", () => {
    const m = new ConsoleMarkers(key);
    m.push(`  ${s("ONESHOT-JOB-EXIT=1")}\n${s("ONESHOT-JOB-EXIT=1x")}\n${s("ONESHOT-JOB-EXIT=1")}x\n`);
    expect(m.exitCode).toBeUndefined();
  });

  it("does not count a marker line until it ends, and keeps agent errors", () => {
    const m = new ConsoleMarkers(key);
    const exit = s("ONESHOT-JOB-EXIT=125");
    m.push(`${s("ONESHOT-AGENT-ERROR no script on the config drive")}\n${exit.slice(0, 20)}`);
    expect(m.exitCode).toBeUndefined();
    m.push(`${exit.slice(20)}\n`);
    expect(m.exitCode).toBe(125);
    expect(m.agentError).toBe("no script on the config drive");
    expect(m.agentReady).toBe(false);
  });

  it("keeps an unauthenticated agent error from before the ready marker as a reason only, never after", () => {
    const m = new ConsoleMarkers(key);
    m.push("ONESHOT-AGENT-ERROR initramfs: no root disk\nONESHOT-JOB-EXIT=125\n");
    expect([m.unverifiedAgentError, m.agentError, m.exitCode]).toEqual(["initramfs: no root disk", undefined, undefined]);
    const n = new ConsoleMarkers(key);
    n.push(`${s("ONESHOT-AGENT-READY")}\nONESHOT-AGENT-ERROR job says so\n`);
    expect(n.unverifiedAgentError).toBeUndefined();
  });

  it("never buffers an endless line", () => {
    const m = new ConsoleMarkers(key);
    m.push("x".repeat(100_000));
    m.push(`\n${s("ONESHOT-AGENT-READY")}\n`);
    expect(m.agentReady).toBe(true);
  });
});

describe("marker key block", () => {
  it("is one 4 KiB block: magic, the key in hex, zeros", () => {
    const b = markerKeyTrailer(key);
    expect(b.length).toBe(4096);
    expect(b.subarray(0, 87).toString()).toBe(`oneshot-marker-key-v1 ${key.toString("hex")}\n`);
    expect(b.subarray(87).every((x) => x === 0)).toBe(true);
    expect(() => markerKeyTrailer(Buffer.alloc(16))).toThrow(RangeError);
  });
  it("signs with HMAC-SHA256 over the text before ' mac='", () => {
    // Computed independently: printf 'ONESHOT-JOB-EXIT=0' | openssl dgst -sha256 -mac HMAC -macopt hexkey:0707…07 (32 bytes)
    expect(signMarker(key, "ONESHOT-JOB-EXIT=0")).toBe("ONESHOT-JOB-EXIT=0 mac=387d3a8e213c237a558d0378d4635bbaee6d91b820bfe3ed599c96c87eba0bac");
    expect(verifyMarker(key, signMarker(key, "ONESHOT-JOB-EXIT=0"))).toEqual({ text: "ONESHOT-JOB-EXIT=0" });
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
    expect(bootFailure({ vmmExited: false, timedOut: true, bootTimeoutSec: 9 })).toEqual({
      code: "agent-timeout",
      reason: "no ONESHOT-AGENT-READY within 9s of the VMM start",
    });
    expect(bootFailure({ vmmExited: true, timedOut: false, agentError: "bad config", bootTimeoutSec: 9 })).toEqual({
      code: "agent-error",
      reason: "guest agent: bad config",
    });
    expect(bootFailure({ vmmExited: false, timedOut: false, killed: true, bootTimeoutSec: 9 }).code).toBe("killed");
    expect(bootFailure({ vmmExited: true, timedOut: false, unverifiedAgentError: "initramfs: no root disk", bootTimeoutSec: 9 }).reason).toMatch(
      /unauthenticated.*no root disk/,
    );
  });
});
