import { describe, expect, it } from "vitest";
import { ConsoleFilter, parseDuration, parseMem } from "./console-filter.js";

describe("ConsoleFilter", () => {
  it("shows only the job's lines and takes the exit code from the marker", () => {
    const f = new ConsoleFilter();
    const out =
      f.push("[    0.1] Linux version 6.1\nONESHOT-AGENT-READY\nONESHOT-JOB-START kind=local job=j1\nhi\nthe") +
      f.push("re\nONESHOT-JOB-EXIT=3\n[ 2.0] reboot: Restarting system\n");
    expect(out).toBe("hi\nthere\n");
    expect(f.exitCode).toBe(3);
  });

  it("keeps the last exit marker (a job can print a fake one)", () => {
    const f = new ConsoleFilter();
    f.push("ONESHOT-JOB-START kind=local job=j\nONESHOT-JOB-EXIT=0\nONESHOT-JOB-EXIT=7\n");
    expect(f.exitCode).toBe(7);
  });

  it("reports the agent's error line", () => {
    const f = new ConsoleFilter();
    f.push("ONESHOT-AGENT-ERROR no script on the config drive\nONESHOT-JOB-EXIT=125\n");
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
