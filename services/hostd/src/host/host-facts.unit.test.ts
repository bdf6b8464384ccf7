import { describe, expect, it } from "vitest";
import { computeCapacity } from "./capacity.js";
import { cpuFlags, hwVirtHint, machineArch, tscKhz } from "./cpu.js";

const pvmHost = "processor\t: 0\ncpu MHz\t\t: 2300.000\nflags\t\t: fpu vme de pse tsc msr hypervisor lahf_lm\n";
const realHost = "processor\t: 0\ncpu MHz\t\t: 3400.123\nflags\t\t: fpu vme vmx ept tsc\n";

describe("host facts", () => {
  it("names the machine arch", () => {
    expect([machineArch("x64"), machineArch("arm64"), machineArch("ia32")]).toEqual(["amd64", "arm64", undefined]);
  });

  it("rules out KVM on x86 without vmx/svm (KVM-PVM), keeps it possible with them and on arm64", () => {
    expect(hwVirtHint("amd64", pvmHost)).toMatchObject({ possible: false, reason: expect.stringMatching(/vmx\/svm/) });
    expect(hwVirtHint("amd64", realHost)).toEqual({ possible: true });
    expect(hwVirtHint("arm64", "Features\t: fp asimd evtstrm\n")).toEqual({ possible: true });
    expect(cpuFlags("Features\t: fp asimd\n")).toEqual(new Set(["fp", "asimd"]));
  });

  it("reads the TSC frequency from dmesg first, else /proc/cpuinfo", () => {
    expect(tscKhz(pvmHost, "[    0.000058] tsc: Detected 2300.000 MHz processor\n")).toBe(2300000);
    expect(tscKhz(pvmHost, "tsc: Detected 2300.000 MHz\ntsc: Refined TSC clocksource calibration: 2299.968 MHz\n")).toBe(2299968);
    expect(tscKhz(realHost)).toBe(3400123);
    expect(tscKhz("")).toBeUndefined();
  });

  it("subtracts the reserve, never below a minimum, and lets overrides replace the result", () => {
    const reserve = { reserveVcpus: 1, reserveMemMiB: 1024, reserveDiskGiB: 5 };
    expect(computeCapacity({ cpus: 16, memMiB: 65536, diskFreeGiB: 200.7 }, reserve)).toEqual({ vcpus: 15, memMiB: 64512, diskGiB: 195 });
    expect(computeCapacity({ cpus: 1, memMiB: 512, diskFreeGiB: 2 }, reserve)).toEqual({ vcpus: 1, memMiB: 256, diskGiB: 1 });
    expect(computeCapacity({ cpus: 2, memMiB: 24000, diskFreeGiB: 80 }, { ...reserve, maxVcpus: 4, maxMemMiB: 1024, maxDiskGiB: 3 })).toEqual({
      vcpus: 4,
      memMiB: 1024,
      diskGiB: 3,
    });
  });

  it("reserves one VMM overhead per VM that can run at once, on top of the host's reserve", () => {
    const reserve = { reserveVcpus: 1, reserveMemMiB: 1024, reserveDiskGiB: 5 };
    const m = { cpus: 16, memMiB: 65536, diskFreeGiB: 200 };
    // 8 QEMUs at 192 MiB each: 1536 MiB less for guests.
    expect(computeCapacity(m, { ...reserve, vmmOverheadMiB: 192, maxConcurrentVms: 8 }).memMiB).toBe(65536 - 1024 - 8 * 192);
    // What is handed out plus every resident overhead plus the reserve never exceeds the machine.
    for (const [mem, n, o] of [
      [24000, 8, 192],
      [4096, 16, 192],
      [65536, 1, 64],
    ] as const) {
      const cap = computeCapacity({ ...m, memMiB: mem }, { ...reserve, vmmOverheadMiB: o, maxConcurrentVms: n });
      if (cap.memMiB > 256) expect(cap.memMiB + n * o + reserve.reserveMemMiB).toBe(mem);
      else expect(cap.memMiB).toBe(256);
    }
    // An operator's override is taken as given (tests' small fake capacities).
    expect(computeCapacity(m, { ...reserve, vmmOverheadMiB: 192, maxConcurrentVms: 8, maxMemMiB: 2048 }).memMiB).toBe(2048);
  });
});
