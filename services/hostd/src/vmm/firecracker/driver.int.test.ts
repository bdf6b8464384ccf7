import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chown, copyFile, readFile, rename, stat } from "node:fs/promises";
import { missing } from "@oneshot/testing";
import { afterEach, describe, expect, it } from "vitest";
import { VmmError } from "../port.js";
import { createFirecrackerDriver } from "./index.js";
import { jailPaths } from "./chroot-layout.js";
import { fakeHost, type FakeHost } from "./testing/fake-host.js";
import { readRecords } from "./testing/fake-record.js";
import { createJobDrive, fillJobDrive, JOB_DRIVE_BYTES } from "../../vm/job-drive.js";

// The jail's files are chowned to the VM's uid, and the fake jailer drops to it: root only.
const needs = missing("root");
const UID_BASE = 64_900;

describe.skipIf(needs)("firecracker driver against the fake firecracker + jailer", () => {
  let host: FakeHost | undefined;
  afterEach(async () => {
    // A failed assertion must not leave fake VMs behind holding pool uids.
    for (const vm of await createFirecrackerDriver({ uidBase: 0 }).list()) if (vm.runDir?.startsWith(host?.dir ?? "\0")) process.kill(vm.pid, "SIGKILL");
    await host?.dispose();
    host = undefined;
  });
  const driverFor = (h: FakeHost, cgroupRoot = h.dir) =>
    createFirecrackerDriver({ uidBase: UID_BASE, uidPoolSize: 8, jailerBin: h.jailerBin, firecrackerBin: h.firecrackerBin, cgroupRoot });

  it("boots through the jailer: API calls in order, console markers in the log, exit, then cleanup removes the chroot", async () => {
    host = await fakeHost();
    const driver = driverFor(host);
    const spec = await host.spec("vmboot1", { net: { tap: "os-tap1", mac: "06:00:ac:10:00:02" } });
    const vm = await driver.start(spec);
    expect(vm.pid).toBeGreaterThan(0);
    const exit = await vm.exited;
    expect(exit).toEqual({ code: 0, signal: null });

    const log = await readFile(spec.consoleLog, "utf8");
    expect(log).toContain("ONESHOT-AGENT-READY\n");
    expect(log).toContain("ONESHOT-JOB-START kind=local job=oneshot-vmboot1\n");
    expect(log).toContain("ONESHOT-JOB-EXIT=0\n");
    expect(log).toContain("Command line: console=ttyS0 reboot=k panic=1 pci=off");

    const records = readRecords(host.record);
    const jailer = records.find((r) => r.who === "jailer");
    if (jailer?.who !== "jailer") throw new Error("the jailer did not run");
    expect(jailer.uid).toBe(jailer.gid);
    expect(jailer.uid > UID_BASE && jailer.uid <= UID_BASE + 8).toBe(true);
    const calls = records.flatMap((r) => ("path" in r && r.method === "PUT" ? [`${r.path} ${r.status}`] : []));
    expect(calls).toEqual([
      "/logger 204",
      "/machine-config 204",
      "/boot-source 204",
      "/drives/root 204",
      "/drives/config 204",
      "/network-interfaces/eth0 204",
      "/actions 204",
    ]);

    const paths = jailPaths("vmboot1", spec.runDir, { firecrackerBin: host.firecrackerBin });
    expect((await stat(`${paths.root}/root.raw`)).uid).toBe(jailer.uid);
    // Shared files are linked, never handed to the VM's uid.
    expect((await stat(`${paths.root}/vmlinux`)).uid).toBe(0);
    expect(existsSync(paths.jailDir)).toBe(true);
    await driver.cleanup("vmboot1", spec.runDir);
    expect(existsSync(paths.jailDir)).toBe(false);
    expect(existsSync(`${spec.runDir}/fc-jail`)).toBe(false);
    // The disks themselves are hostd's: cleanup removed only the links.
    expect(existsSync(spec.rootDisk)).toBe(true);
  });

  it("turns a configuration Firecracker refuses into a VmmError carrying its fault_message, and leaves no process", async () => {
    host = await fakeHost({ FAKE_FC_EXIT_AFTER_MS: "never" });
    const driver = driverFor(host);
    const spec = await host.spec("vmbad1", { vcpus: 64 });
    const err = await driver.start(spec).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(VmmError);
    expect((err as VmmError).code).toBe("firecracker-api");
    expect((err as VmmError).message).toContain("PUT /machine-config → 400: The vCPU number is invalid");
    expect((await driver.list()).filter((v) => v.vmId === spec.vmId)).toEqual([]);
    const records = readRecords(host.record);
    expect(records.some((r) => "path" in r && r.path === "/actions")).toBe(false);
    await driver.cleanup("vmbad1", spec.runDir);
  });

  it("stop() sends SendCtrlAltDel and the VM exits on its own; list() sees it while it runs", async () => {
    host = await fakeHost({ FAKE_FC_EXIT_AFTER_MS: "never" });
    const driver = driverFor(host);
    const spec = await host.spec("vmstop1");
    const vm = await driver.start(spec);
    const listed = await driver.list();
    expect(listed).toContainEqual({ vmId: "vmstop1", pid: vm.pid, runDir: spec.runDir });
    await driver.stop("vmstop1", spec.runDir, 30_000);
    expect(await vm.exited).toEqual({ code: 0, signal: null });
    const records = readRecords(host.record);
    expect(records).toContainEqual(expect.objectContaining({ who: "firecracker", path: "/actions", body: { action_type: "SendCtrlAltDel" }, status: 204 }));
    expect(records).toContainEqual({ who: "firecracker", event: "exit", code: 0, why: "SendCtrlAltDel" });
    expect((await driver.list()).filter((v) => v.vmId === spec.vmId)).toEqual([]);
    await driver.cleanup("vmstop1", spec.runDir);
  });

  it("stop() kills a guest that ignores SendCtrlAltDel once the grace period is over", async () => {
    host = await fakeHost({ FAKE_FC_EXIT_AFTER_MS: "never", FAKE_FC_IGNORE_CTRL_ALT_DEL: "1" });
    const driver = driverFor(host);
    const spec = await host.spec("vmkill1");
    const vm = await driver.start(spec);
    await driver.stop("vmkill1", spec.runDir, 300);
    expect(await vm.exited).toEqual({ code: null, signal: "SIGKILL" });
    expect(readRecords(host.record)).toContainEqual(expect.objectContaining({ path: "/actions", body: { action_type: "SendCtrlAltDel" } }));
    await driver.cleanup("vmkill1", spec.runDir);
  });

  it("two VMs at once get different uids from the pool", async () => {
    host = await fakeHost({ FAKE_FC_EXIT_AFTER_MS: "never" });
    const driver = driverFor(host);
    const a = await driver.start(await host.spec("vmpoola"));
    const b = await driver.start(await host.spec("vmpoolb"));
    // Exact slots depend on what else runs as pool uids right now (the fakes' own helper
    // processes may linger a moment): what matters is two different uids, both in the pool.
    const uids = readRecords(host.record).flatMap((r) => (r.who === "jailer" ? [r.uid] : []));
    expect(uids).toHaveLength(2);
    expect(uids[0]).not.toBe(uids[1]);
    for (const uid of uids) expect(uid > UID_BASE && uid <= UID_BASE + 8).toBe(true);
    await Promise.all([driver.stop("vmpoola", `${host.dir}/run/vmpoola`, 30_000), driver.stop("vmpoolb", `${host.dir}/run/vmpoolb`, 30_000)]);
    await Promise.all([a.exited, b.exited]);
  });

  it("skips a pool uid that another process (a QEMU VM, another hostd) already runs as", async () => {
    host = await fakeHost({ FAKE_FC_EXIT_AFTER_MS: "never" });
    const driver = driverFor(host);
    const squatter = spawn("sleep", ["600"], { uid: UID_BASE + 1, gid: UID_BASE + 1, stdio: "ignore" });
    const squatterGone = new Promise((r) => squatter.once("exit", r));
    await new Promise((r) => squatter.once("spawn", r));
    try {
      const spec = await host.spec("vmpoolc");
      const vm = await driver.start(spec);
      const [uid] = readRecords(host.record).flatMap((r) => (r.who === "jailer" ? [r.uid] : []));
      expect(uid).not.toBe(UID_BASE + 1);
      expect(uid! > UID_BASE + 1 && uid! <= UID_BASE + 8).toBe(true);
      await driver.stop("vmpoolc", spec.runDir, 30_000);
      await vm.exited;
    } finally {
      squatter.kill("SIGKILL");
      await squatterGone;
    }
  });

  // Warm pools (docs/warm-pool.md): the job drive attached before boot, filled by hostd, then
  // PATCH /drives/job; the fake guest reads the reopened file, as Firecracker would serve it.
  const warmBoot = async (h: FakeHost, vmId: string, copied: boolean) => {
    const driver = driverFor(h);
    const spec0 = await h.spec(vmId);
    const jobDisk = `${spec0.runDir}/job.raw`;
    await createJobDrive(jobDisk);
    const spec = { ...spec0, jobDisk };
    const vm = await driver.start(spec);
    const paths = jailPaths(vmId, spec.runDir, { firecrackerBin: h.firecrackerBin });
    const inJail = `${paths.root}/job.raw`;
    const linked = (await stat(inJail)).ino === (await stat(jobDisk)).ino;
    if (copied) {
      // As on another filesystem than the run dir: the chroot holds a copy, not the file.
      const owner = await stat(inJail);
      await copyFile(jobDisk, `${inJail}.copy`);
      await rename(`${inJail}.copy`, inJail);
      await chown(inJail, owner.uid, owner.gid);
    }
    await expect.poll(() => readFile(spec.consoleLog, "utf8"), { timeout: 10_000 }).toContain("ONESHOT-AGENT-WARM\n");
    expect(await readFile(spec.consoleLog, "utf8")).not.toContain("ONESHOT-JOB-START");
    const { bytes, size } = await fillJobDrive(jobDisk, { "job-id": { content: "j1\n", mode: 0o644 }, script: { content: "exit 0\n", mode: 0o644 } });
    await driver.handOver(vmId, spec.runDir, jobDisk);
    expect(await vm.exited).toEqual({ code: 0, signal: null });
    const records = readRecords(h.record);
    const calls = records.flatMap((r) => ("path" in r && r.method !== "GET" ? [`${r.method} ${r.path} ${r.status}`] : []));
    expect(calls).toEqual([
      "PUT /logger 204",
      "PUT /machine-config 204",
      "PUT /boot-source 204",
      "PUT /drives/root 204",
      "PUT /drives/config 204",
      "PUT /drives/job 204",
      "PUT /actions 204",
      "PATCH /drives/job 204",
    ]);
    const seen = records.find((r) => "event" in r && r.event === "job-drive");
    expect(seen).toMatchObject({ size: JOB_DRIVE_BYTES + 4096 });
    expect(size).toBe(JOB_DRIVE_BYTES + 4096);
    expect((seen as { header: string }).header).toMatch(new RegExp(`^oneshot-job-drive-v1 ready ${bytes} [0-9a-f]{64}$`));
    expect(await readFile(spec.consoleLog, "utf8")).toContain(`ONESHOT-JOB-START kind=local job=oneshot-${vmId} handed=${bytes}\n`);
    // The chroot's file stays the VM's uid's, never root's.
    expect((await stat(inJail)).uid).toBe(records.flatMap((r) => (r.who === "jailer" ? [r.uid] : []))[0]);
    await driver.cleanup(vmId, spec.runDir);
    expect(existsSync(paths.jailDir)).toBe(false);
    return { linked };
  };

  it("a warm VM: job drive attached before boot; at hand-over the guest sees the filled, grown file (PATCH /drives/job)", async () => {
    host = await fakeHost();
    expect(await warmBoot(host, "vmwarm1", false)).toEqual({ linked: true });
  });

  it("a warm VM whose chroot holds a copy of the job drive gets the filled file copied in before the PATCH", async () => {
    host = await fakeHost();
    await warmBoot(host, "vmwarm2", true);
  });

  it("refuses a hand-over when the VM's chroot has no job drive", async () => {
    host = await fakeHost({ FAKE_FC_EXIT_AFTER_MS: "never" });
    const driver = driverFor(host);
    const spec = await host.spec("vmwarm3");
    const vm = await driver.start(spec);
    await expect(driver.handOver("vmwarm3", spec.runDir, `${spec.runDir}/job.raw`)).rejects.toThrow(/not in the VM's chroot/);
    await driver.stop("vmwarm3", spec.runDir, 30_000);
    await vm.exited;
    await driver.cleanup("vmwarm3", spec.runDir);
  });
});
