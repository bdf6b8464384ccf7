import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "@oneshot/runtime";
import { missing } from "@oneshot/testing";
import { readFile } from "node:fs/promises";
import { tscKhz } from "../host/cpu.js";
import { exec } from "../host/exec.js";
import { Links } from "../net/links.js";
import { Nft } from "../net/nft.js";
import { missingImage } from "../testing/hostd-harness.js";
import { findImages } from "../vm/images.js";
import { QemuDriver } from "../vmm/qemu/driver.js";
import { testImageDir } from "../testing/hostd-harness.js";
import { PROBE_VM_ID, probeBoot } from "./accel.js";

// The KVM probe is a real boot of the guest image with a job that exits 0. Under TCG it
// passes; with a timeout too short for any guest it fails with a reason; and on a machine
// whose /dev/kvm cannot run ordinary guests (KVM-PVM here) the KVM probe fails too.
const skip = missing("root", "qemu-x86", "nft") ?? missingImage("amd64");
const log = createLogger("test", { level: "silent" });
const noKvm = !existsSync("/dev/kvm");
if (noKvm) process.stderr.write("SKIP (kvm-probe-negative): no /dev/kvm on this machine\n");

describe.skipIf(skip)("KVM probe boot (real QEMU)", () => {
  const state = mkdtempSync(`${tmpdir()}/oneshot-probe-`);
  afterAll(() => rmSync(state, { recursive: true, force: true }));
  // As in main.ts: without tsc_early_khz a microvm guest sometimes stalls calibrating its TSC.
  const tsc = async () => tscKhz(await readFile("/proc/cpuinfo", "utf8"), (await exec("dmesg", [])).stdout);
  const deps = async () => ({
    exec,
    driver: new QemuDriver({ exec, uidBase: 0, tscKhz: await tsc() }),
    nft: new Nft(exec),
    links: new Links(exec),
    image: (await findImages(testImageDir(), "amd64"))[0]!,
    stateDir: state,
    log,
  });
  const nothingLeft = async () => {
    expect(existsSync(`${state}/hostd/probe/${PROBE_VM_ID}`)).toBe(false);
    expect((await new QemuDriver({ exec, uidBase: 0 }).list()).filter((v) => v.vmId === PROBE_VM_ID)).toEqual([]);
  };

  it("passes under TCG: the guest ran its job", async () => {
    const r = await probeBoot({ ...(await deps()), accel: "tcg", timeoutMs: 120_000 });
    expect(r).toMatchObject({ ok: true });
    await nothingLeft();
  }, 180_000);

  it("fails, with the reason, when the guest does not finish in time", async () => {
    const r = await probeBoot({ ...(await deps()), accel: "tcg", timeoutMs: 300 });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/did not finish a trivial job within/);
    await nothingLeft();
  }, 60_000);

  it.skipIf(noKvm)(
    "fails for KVM on this machine when its CPU shows no vmx/svm (a nested, software KVM)",
    async (ctx) => {
      const flags = (await exec("grep", ["-cE", "vmx|svm", "/proc/cpuinfo"])).stdout.trim();
      if (flags !== "0") {
        const why = "this CPU has vmx/svm, KVM may well work here";
        process.stderr.write(`SKIP (kvm-probe-negative): ${why}\n`);
        return ctx.skip(why);
      }
      const r = await probeBoot({ ...(await deps()), accel: "kvm", timeoutMs: 20_000 });
      expect(r.ok).toBe(false);
      await nothingLeft();
    },
    120_000,
  );
});
