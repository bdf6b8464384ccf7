import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConsoleMarkers } from "../vm/console-markers.js";
import { buildConfigDrive, configDriveFiles, scriptLaunch } from "../vm/config-drive.js";
import { newMarkerKey } from "../vm/marker-auth.js";
import { ensureRootDisk } from "../vm/root-disk.js";
import { vmNetFor } from "../net/vm-address.js";
import { SimLinks, SimNft } from "./sim-network.js";
import { simDiskExec } from "./sim-disk.js";
import { SimVmm, readMarkerKey } from "./sim-vmm.js";

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "oneshot-sim-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** hostd's own config-drive step through the simulated disk adapter. */
async function drive(dir: string, key: Buffer): Promise<string> {
  const image = join(dir, "config.img");
  const net = vmNetFor("vm1", "172.30.0.0/24", "172.30.0.2", "1.1.1.1");
  await buildConfigDrive(
    simDiskExec,
    image,
    configDriveFiles({ source: "script", jobId: "j1", hostname: "oneshot-vm1", timeoutSec: 60, launch: scriptLaunch(), script: "true", net, env: {} }),
    key,
  );
  return image;
}

describe("simulated disk adapter", () => {
  it("lets hostd's root-disk and config-drive steps run, and the drive carries the marker key", async () => {
    const d = tmp();
    const base = join(d, "base.raw");
    await simDiskExec("truncate", ["-s", "1", base]).then((r) => expect(r.code).toBe(1)); // no such file: truncate does not create
    writeFileSync(base, "img");
    expect(await ensureRootDisk(simDiskExec, { base, path: join(d, "root.raw"), format: "raw", diskGiB: 1 })).toBe("created");
    expect(await ensureRootDisk(simDiskExec, { base, path: join(d, "root.raw"), format: "raw", diskGiB: 1 })).toBe("present");
    const key = newMarkerKey();
    const image = await drive(d, key);
    expect((await readMarkerKey(image)).equals(key)).toBe(true);
    expect(statSync(image).size % 4096).toBe(0);
  });

  it("refuses programs it does not simulate", async () => {
    expect((await simDiskExec("dd", ["if=/dev/zero"])).code).toBe(127);
  });
});

describe("simulated VMM", () => {
  it("boots, prints markers signed with the drive's key, and exits 0", async () => {
    const d = tmp();
    const key = newMarkerKey();
    const configDisk = await drive(d, key);
    const vmm = new SimVmm({ bootMs: () => 5, runMs: () => 20, exitCode: () => 3 });
    const consoleLog = join(d, "console.log");
    const vm = await vmm.start({
      vmId: "vm1",
      arch: "amd64",
      vcpus: 1,
      memMiB: 256,
      kernel: "k",
      initrd: "i",
      rootDisk: "r",
      configDisk,
      runDir: d,
      consoleLog,
      consoleMaxBytes: 1 << 16,
      accel: "tcg",
    });
    expect((await vmm.list()).map((v) => v.vmId)).toEqual(["vm1"]);
    expect(vm.pid).toBeGreaterThan(4_194_304); // never a real pid
    expect(await vm.exited).toEqual({ code: 0, signal: null });
    const markers = new ConsoleMarkers(key);
    markers.push(readFileSync(consoleLog, "utf8"));
    expect(markers).toMatchObject({ agentReady: true, jobStarted: true, exitCode: 3, forged: 0 });
    // Under another key the same console holds no marker: they are really signed.
    const other = new ConsoleMarkers(newMarkerKey());
    other.push(readFileSync(consoleLog, "utf8"));
    expect(other.agentReady).toBe(false);
    expect(await vmm.list()).toEqual([]);
  });

  it("is killed at once by stop, idempotently", async () => {
    const d = tmp();
    const configDisk = await drive(d, newMarkerKey());
    const vmm = new SimVmm({ bootMs: () => 10_000, runMs: () => 10_000, exitCode: () => 0 });
    const vm = await vmm.start({
      vmId: "vm2",
      arch: "amd64",
      vcpus: 1,
      memMiB: 256,
      kernel: "k",
      initrd: "i",
      rootDisk: "r",
      configDisk,
      runDir: d,
      consoleLog: join(d, "c.log"),
      consoleMaxBytes: 1 << 16,
      accel: "tcg",
    });
    await vmm.stop("vm2", d, 1000);
    await vmm.stop("vm2", d, 1000);
    expect(await vm.exited).toEqual({ code: null, signal: "SIGKILL" });
    expect(vmm.running).toBe(0);
  });

  it("fails the start when the config drive has no key", async () => {
    const vmm = new SimVmm({ bootMs: () => 1, runMs: () => 1, exitCode: () => 0 });
    const d = tmp();
    await expect(
      vmm.start({
        vmId: "vm3",
        arch: "amd64",
        vcpus: 1,
        memMiB: 256,
        kernel: "k",
        initrd: "i",
        rootDisk: "r",
        configDisk: join(d, "none"),
        runDir: d,
        consoleLog: join(d, "c"),
        consoleMaxBytes: 1,
        accel: "tcg",
      }),
    ).rejects.toMatchObject({ name: "VmmError", vmId: "vm3" });
  });
});

describe("simulated network adapter", () => {
  it("creates a tap once on an existing bridge and removes it once", async () => {
    const links = new SimLinks("br0", "172.30.0.1/24");
    await expect(links.ensureTap("os-vm1", "nobridge")).rejects.toThrow(/no such bridge/);
    expect(await links.ensureTap("os-vm1", "br0", "02:00:00:00:00:01")).toContain("created");
    expect(await links.ensureTap("os-vm1", "br0", "02:00:00:00:00:01")).toEqual([]);
    expect(await links.get("os-vm1")).toMatchObject({ master: "br0", isolated: true, learning: false, up: true });
    expect(await links.fdb("br0")).toEqual([{ mac: "02:00:00:00:00:01", ifname: "os-vm1", state: "static", sticky: true }]);
    expect(await links.remove("os-vm1")).toBe(true);
    expect(await links.remove("os-vm1")).toBe(false);
    expect(links.taps()).toEqual([]);
  });

  it("keeps a VM's rules as the real ruleset would count them", async () => {
    const nft = new SimNft();
    const vm = { vmId: "vm1" };
    expect(await nft.ensureVmRules("br0", vm, false)).toBe("added");
    expect(await nft.ensureVmRules("br0", vm, false)).toBe("present");
    expect(await nft.ensureVmRules("br0", vm, true)).toBe("added"); // shared limits: more rules
    expect(await nft.vmComments("br0")).toEqual(["oneshot:vm1"]);
    expect(await nft.removeVmRules("vm1")).toBe(13);
    expect(await nft.removeVmRules("vm1")).toBe(0);
    await expect(nft.ruleset()).rejects.toThrow(/not simulated/);
  });
});
