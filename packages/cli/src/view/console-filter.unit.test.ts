import { describe, expect, it } from "vitest";
import { ConsoleFilter, parseDuration, parseMem } from "./console-filter.js";

// The agent's markers end in a MAC (docs/guest-contract.md); its shape is all the CLI can check.
const mac = ` mac=${"ab".repeat(32)}`;

describe("ConsoleFilter", () => {
  it("shows only the job's lines and takes the exit code from the marker", () => {
    const f = new ConsoleFilter();
    const out =
      f.push(`[    0.1] Linux version 6.1\nONESHOT-AGENT-READY${mac}\nONESHOT-JOB-START kind=local job=j1${mac}\nhi\nthe`) +
      f.push(`re\nONESHOT-JOB-EXIT=3${mac}\n[ 2.0] reboot: Restarting system\n`);
    expect(out).toBe("hi\nthere\n");
    expect(f.exitCode).toBe(3);
  });

  it("shows marker text without a MAC as the job's output (a job printing a fake marker)", () => {
    const f = new ConsoleFilter();
    const out = f.push(`ONESHOT-JOB-START kind=local job=j${mac}\nONESHOT-JOB-EXIT=0\nONESHOT-JOB-EXIT=7${mac}\n`);
    expect(out).toBe("ONESHOT-JOB-EXIT=0\n");
    expect(f.exitCode).toBe(7);
  });

  it("reports the agent's error line", () => {
    const f = new ConsoleFilter();
    f.push(`ONESHOT-AGENT-ERROR no script on the config drive${mac}\nONESHOT-JOB-EXIT=125${mac}\n`);
    expect(f.agentError).toBe("no script on the config drive");
    expect(f.exitCode).toBe(125);
  });

  it("shows everything in raw mode", () => {
    const f = new ConsoleFilter(true);
    expect(f.push("kernel\nONESHOT-JOB-START x\n")).toBe("kernel\nONESHOT-JOB-START x\n");
  });
});

describe("size and duration flags", () => {
  it("parses memory", () => {
    expect(parseMem("2g")).toBe(2048);
    expect(parseMem("512m")).toBe(512);
    expect(parseMem("768")).toBe(768);
    expect(() => parseMem("lots")).toThrow(/--mem/);
  });
  it("parses durations", () => {
    expect(parseDuration("90s")).toBe(90);
    expect(parseDuration("10m")).toBe(600);
    expect(parseDuration("1h")).toBe(3600);
    expect(parseDuration("45")).toBe(45);
    expect(() => parseDuration("soon")).toThrow(/--timeout/);
  });
});
