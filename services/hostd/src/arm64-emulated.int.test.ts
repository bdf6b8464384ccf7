import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing } from "@oneshot/testing";
import { HostdHarness, missingImage } from "./testing/hostd-harness.js";

// HOSTD_ARCH=arm64 on an amd64 machine: hostd registers as arm64 (emulated, TCG) and boots
// aarch64 guests, so every arm64 path runs here. Skipped on an arm64 machine (nothing to emulate).
const skip =
  missing("nats", "root", "qemu-arm", "nft") ??
  missingImage("arm64") ??
  (process.arch === "arm64" ? "the machine is arm64: HOSTD_ARCH=arm64 is native here" : undefined);
if (process.arch === "arm64") process.stderr.write("SKIP (emulated-arm64): the machine is arm64 already\n");
const T = 300_000;

describe.skipIf(skip)("an emulated arm64 host on an amd64 machine (real hostd, qemu-system-aarch64)", () => {
  const h = new HostdHarness({ HOSTD_ARCH: "arm64", HOSTD_MAX_VCPUS: "2", HOSTD_MAX_MEM_MIB: "2048" });
  beforeAll(() => h.start(), T);
  afterAll(() => h.dispose(), T);

  it("registers as arm64, emulated, under TCG", () => {
    expect(h.events.find((e) => e.type === "HostRegistered")!.data).toMatchObject({ arch: "arm64", emulated: true, accel: "tcg", vmm: "qemu" });
  });

  it(
    "boots an aarch64 guest that runs the job and exits with its code",
    async () => {
      const { vmId } = await h.schedule({ script: "echo arch=$(uname -m)\nexit 7\n", spec: { arch: "arm64" } });
      await h.waitEvent("VmDestroyed", vmId);
      expect(h.vmEvents(vmId).map((e) => e.type)).toEqual(["VmBootRequested", "VmBooted", "VmExited", "VmDestroyed"]);
      expect(h.vmEvents(vmId).find((e) => e.type === "VmExited")!.data).toMatchObject({ exitCode: 7, reason: "exited" });
      await expect.poll(() => h.consoleText(vmId), { timeout: 10_000 }).toMatch(/^arch=aarch64\r?$/m);
      expect(h.leftovers(vmId)).toEqual([]);
    },
    T,
  );

  it(
    "refuses an amd64 job with a reason the scheduler can act on",
    async () => {
      const { vmId } = await h.schedule({ script: "true\n", spec: { arch: "amd64" } });
      await h.waitEvent("VmDestroyed", vmId);
      expect(h.vmEvents(vmId).map((e) => e.type)).toEqual(["VmBootRequested", "VmBootFailed", "VmDestroyed"]);
      expect(h.vmEvents(vmId).find((e) => e.type === "VmBootFailed")!.data).toMatchObject({ code: "wrong-arch" });
      expect(h.leftovers(vmId)).toEqual([]);
    },
    T,
  );
});
