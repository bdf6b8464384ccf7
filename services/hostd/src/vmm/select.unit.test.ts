import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createLogger } from "@oneshot/runtime";
import type { Exec } from "../host/exec.js";
import { DriverUnavailableError, loadFirecracker, selectDriver } from "./select.js";

const log = createLogger("test", { level: "silent" });
/** An exec where every binary "works": probes see QEMU installed. */
const ok: Exec = async () => ({ code: 0, stdout: "QEMU emulator version 7.2", stderr: "" });
const missingBin: Exec = async () => ({ code: 127, stdout: "", stderr: "not found" });
const deps = (exec: Exec) => ({ exec, log, uidBase: 0, stateDir: "/tmp" });
// The Firecracker driver is in the tree; on a machine with a real firecracker binary the
// "cannot run here" cases below do not hold.
const firecrackerRuns = ["/usr/bin/firecracker", "/usr/local/bin/firecracker"].some((p) => existsSync(p));
if (firecrackerRuns) process.stderr.write("SKIP (firecracker-unusable cases): a firecracker binary is installed here\n");

describe.skipIf(firecrackerRuns)("VMM selection with the Firecracker driver, on a machine where it cannot run", () => {
  it("finds the driver's factory at run time", async () => {
    expect(typeof (await loadFirecracker())).toBe("function");
  });

  it("HOSTD_VMM=firecracker stops with the driver's own reason", async () => {
    await expect(selectDriver("firecracker", "amd64", deps(ok))).rejects.toThrow(DriverUnavailableError);
    await expect(selectDriver("firecracker", "amd64", deps(ok))).rejects.toThrow(/Firecracker cannot run amd64 guests here: /);
  });

  it("auto falls back to QEMU and says why", async () => {
    const r = await selectDriver("auto", "amd64", deps(ok));
    expect(r.driver.name).toBe("qemu");
    expect(r.why).toMatch(/^auto: Firecracker unusable \(/);
  });
});

describe("VMM selection", () => {
  it("stops with a clear error when QEMU is not installed", async () => {
    await expect(selectDriver("qemu", "arm64", deps(missingBin))).rejects.toThrow(/qemu-system-aarch64 not runnable/);
  });
});
