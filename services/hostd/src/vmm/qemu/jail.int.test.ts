import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { missing, waitFor } from "@oneshot/testing";
import { tscKhz } from "../../host/cpu.js";
import { exec } from "../../host/exec.js";
import { missingImage, testImageDir } from "../../testing/hostd-harness.js";
import { buildConfigDrive, configDriveFiles, markerKeyPresent, scriptLaunch } from "../../vm/config-drive.js";
import { ConsoleMarkers } from "../../vm/console-markers.js";
import { findImages } from "../../vm/images.js";
import { newMarkerKey } from "../../vm/marker-auth.js";
import { ensureRootDisk } from "../../vm/root-disk.js";
import { runFiles } from "../../vm/run-dir.js";
import { QEMU_MEM_OVERHEAD_MIB, vmCgroupLeaf } from "../cgroup/cgroup-plan.js";
import { VmCgroups } from "../cgroup/vm-cgroups.js";
import { VmmError } from "../port.js";
import { QemuDriver, type QemuDriverOptions } from "./driver.js";
import { probeSandbox } from "./sandbox.js";

// The QEMU jail, for real: the seccomp sandbox fails closed, and every VMM sits in a cgroup v2
// leaf of its own that is gone after destroy. Real QEMU guests (TCG), the minimal image.
const skip = missing("root", "qemu-x86") ?? missingImage("amd64");
const parent = `oneshot-test-${process.pid}.slice`;

describe.skipIf(skip)("QEMU jail: seccomp sandbox and cgroup v2 leaves (real QEMU guests)", () => {
  const state = mkdtempSync(join(tmpdir(), "oneshot-qemu-jail-"));
  let cgroups: VmCgroups | undefined;
  afterAll(async () => {
    rmSync(state, { recursive: true, force: true });
    const dir = cgroups?.support.kind === "unavailable" ? undefined : cgroups?.support.parentDir;
    if (dir) await exec("rmdir", [dir]);
  });

  /** Starts a VM whose job sleeps; returns what a test needs to look at it. */
  const boot = async (vmId: string, o: Partial<QemuDriverOptions>, script = "sleep 120\n") => {
    const tsc = tscKhz(await readFile("/proc/cpuinfo", "utf8"), (await exec("dmesg", [])).stdout);
    const driver = new QemuDriver({ exec, uidBase: 64_900, tscKhz: tsc, ...o });
    const image = (await findImages(testImageDir(), "amd64"))[0]!;
    const runDir = join(state, vmId);
    await mkdir(runDir, { recursive: true, mode: 0o700 });
    const files = runFiles(runDir, "qcow2");
    await ensureRootDisk(exec, { base: image.rootfs, path: files.rootDisk, format: "qcow2", diskGiB: 1 });
    const key = newMarkerKey();
    await buildConfigDrive(
      exec,
      files.configDisk,
      configDriveFiles({ source: "script", jobId: vmId, hostname: `oneshot-${vmId}`, timeoutSec: 300, launch: scriptLaunch(), script }),
      key,
    );
    const spec = {
      vmId,
      arch: "amd64" as const,
      vcpus: 1,
      memMiB: 256,
      kernel: image.kernel,
      initrd: image.initrd,
      rootDisk: files.rootDisk,
      configDisk: files.configDisk,
      runDir,
      consoleLog: files.consoleLog,
      consoleMaxBytes: 1 << 20,
      accel: "tcg" as const,
    };
    return { driver, spec, files, key, runDir };
  };
  const status = (pid: number, field: string) => new RegExp(`^${field}:\\s+(\\S+)`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");

  it("the sandbox probe passes with this QEMU, and fails with a reason when QEMU does not answer in time", async () => {
    expect(await probeSandbox(exec, "amd64")).toEqual({ ok: true });
    const failed = await probeSandbox(exec, "amd64", 1);
    expect(failed).toMatchObject({ ok: false, reason: expect.stringMatching(/-sandbox .* failed \(no answer within 1ms\)/) });
  }, 60_000);

  it("refuses to boot (no-sandbox, with the reason) when the sandbox cannot be applied, and starts nothing", async () => {
    const { driver, spec } = await boot("sbxrefuse1", { sandboxProbeTimeoutMs: 1 });
    const err = await driver.start(spec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VmmError);
    expect(err).toMatchObject({
      code: "no-sandbox",
      refusal: true,
      message: expect.stringMatching(/seccomp sandbox cannot be applied, refusing to boot \(HOSTD_ALLOW_NO_SANDBOX=1 allows it\).*no answer within 1ms/),
    });
    expect((await driver.list()).filter((v) => v.vmId === "sbxrefuse1")).toEqual([]);
  }, 60_000);

  it("boots without the filter only when the operator allows it (HOSTD_ALLOW_NO_SANDBOX=1)", async () => {
    const { driver, spec, runDir } = await boot("sbxallow1", { sandboxProbeTimeoutMs: 1, allowNoSandbox: true });
    const vm = await driver.start(spec);
    try {
      expect(cmdline(vm.pid!)).not.toContain("-sandbox");
      expect(status(vm.pid!, "Seccomp")).toBe("0");
    } finally {
      await driver.stop("sbxallow1", runDir, 2_000);
      await driver.cleanup("sbxallow1", runDir);
    }
  }, 60_000);

  it("puts each VMM in its own leaf (with cpu.max and memory.max where the hierarchy has them), sandboxed, and removes the leaf at destroy", async (ctx) => {
    cgroups = await VmCgroups.detect({ parent });
    if (cgroups.support.kind === "unavailable") {
      process.stderr.write(`SKIP (cgroup-v2): ${cgroups.support.reason}\n`);
      return ctx.skip(cgroups.support.reason);
    }
    const { driver, spec, files, key, runDir } = await boot("cgleaf1", { cgroups });
    const vm = await driver.start(spec);
    const leaf = join(cgroups.support.parentDir, vmCgroupLeaf("cgleaf1"));
    try {
      // The kernel's word: /proc/<pid>/cgroup names the leaf (v2 line `0::<path>`).
      const mount = cgroups.support.parentDir.slice(0, -parent.length - 1);
      expect(readFileSync(`/proc/${vm.pid}/cgroup`, "utf8")).toContain(`0::${leaf.slice(mount.length)}\n`);
      expect(readFileSync(join(leaf, "cgroup.procs"), "utf8").trim().split("\n")).toContain(String(vm.pid));
      expect(cmdline(vm.pid!)[0]).toBe("qemu-system-x86_64");
      expect(status(vm.pid!, "Seccomp")).toBe("2");
      if (cgroups.support.kind === "limits") {
        expect(readFileSync(join(leaf, "cpu.max"), "utf8").trim()).toBe("100000 100000");
        expect(readFileSync(join(leaf, "memory.max"), "utf8").trim()).toBe(String((256 + QEMU_MEM_OVERHEAD_MIB) * 1024 * 1024));
      } else {
        process.stderr.write(`SKIP (cgroup-v2-limits): ${cgroups.support.reason}; checked membership and removal only\n`);
      }
      // The guest runs: its agent is ready (and has erased its key from the drive).
      const markers = new ConsoleMarkers(key);
      await waitFor(
        "agent ready",
        async () => {
          markers.push(await readFile(files.consoleLog, "utf8").catch(() => ""));
          return markers.agentReady || undefined;
        },
        120_000,
        200,
      );
      expect(await markerKeyPresent(files.configDisk)).toBe(false);
      console.log(
        JSON.stringify({ test: "qemu-rss", guestMiB: 256, vmRssKiB: Number(status(vm.pid!, "VmRSS")?.replace(/\D/g, "")), overheadMiB: QEMU_MEM_OVERHEAD_MIB }),
      );
    } finally {
      await driver.stop("cgleaf1", runDir, 2_000);
      await driver.cleanup("cgleaf1", runDir);
    }
    expect(existsSync(leaf)).toBe(false);
    expect(await cgroups.remove("cgleaf1")).toBe("absent");
  }, 180_000);
});
