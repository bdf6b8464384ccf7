import { describe, expect, it } from "vitest";
import { cgroupLimits } from "./cgroup-limits.js";
import { chrootLayout } from "./chroot-layout.js";
import { jailId, vmIdOfCmdline } from "./ids.js";
import { jailerArgv } from "./jailer-argv.js";
import { pickSlot, slotOfUid, slotOwner } from "./uid-pool.js";
import { parseJailerArgv } from "./testing/fake-jailer.js";

const spec = {
  vmId: "ab12",
  kernel: "/img/vmlinux",
  initrd: "/img/initrd.img",
  rootDisk: "/state/run/ab12/root.raw",
  configDisk: "/state/run/ab12/config.ext4",
  runDir: "/state/run/ab12",
};

describe("jailer argv", () => {
  const layout = chrootLayout(spec, { firecrackerBin: "/usr/bin/firecracker" });
  const base = {
    layout,
    firecrackerBin: "/usr/bin/firecracker",
    uid: 64201,
    gid: 64201,
    chrootBaseDir: "/state/run/ab12/fc-jail",
    vcpus: 2,
    memMiB: 1024,
    memOverheadMiB: 64,
  };

  it("names the VM, the exec file, the pool's uid/gid, the cgroup v2 limits, and the socket inside the chroot", () => {
    expect(jailerArgv(base)).toEqual([
      "--id",
      "oneshot-ab12",
      "--exec-file",
      "/usr/bin/firecracker",
      "--uid",
      "64201",
      "--gid",
      "64201",
      "--chroot-base-dir",
      "/state/run/ab12/fc-jail",
      "--cgroup-version",
      "2",
      "--cgroup",
      "cpu.max=200000 100000",
      "--cgroup",
      `memory.max=${1088 * 1024 * 1024}`,
      "--",
      "--api-sock",
      "/run/firecracker.socket",
    ]);
  });

  it("joins a network namespace and a parent cgroup only when asked, and never daemonizes", () => {
    const argv = jailerArgv({ ...base, netns: "/var/run/netns/oneshot", parentCgroup: "oneshot" });
    expect(argv.slice(argv.indexOf("--netns"), argv.indexOf("--netns") + 2)).toEqual(["--netns", "/var/run/netns/oneshot"]);
    expect(argv.slice(argv.indexOf("--parent-cgroup"), argv.indexOf("--parent-cgroup") + 2)).toEqual(["--parent-cgroup", "oneshot"]);
    expect(argv).not.toContain("--daemonize");
    expect(jailerArgv(base)).not.toContain("--netns");
  });

  it("is accepted by the fake jailer's parser (the real jailer's rules)", () => {
    const parsed = parseJailerArgv(jailerArgv(base));
    expect(parsed).toMatchObject({ id: "oneshot-ab12", uid: 64201, gid: 64201, cgroupVersion: 2, firecrackerArgs: ["--api-sock", "/run/firecracker.socket"] });
  });

  it("the fake jailer refuses what the real one refuses", () => {
    expect(() => parseJailerArgv(["--id", "bad_id!", "--exec-file", "/x/firecracker", "--uid", "1", "--gid", "1"])).toThrow(/Invalid instance ID/);
    expect(() => parseJailerArgv(["--id", "a", "--uid", "1", "--gid", "1"])).toThrow(/--exec-file/);
    expect(() => parseJailerArgv(["--id", "a", "--exec-file", "/x/firecracker", "--gid", "1"])).toThrow(/--uid/);
    expect(() => parseJailerArgv(["--id", "a", "--exec-file", "/x/firecracker", "--uid", "1"])).toThrow(/--gid/);
    expect(() => parseJailerArgv(["--id", "a", "--exec-file", "/x/qemu", "--uid", "1", "--gid", "1"])).toThrow(/must contain "firecracker"/);
    expect(() => parseJailerArgv(["--id", "a".repeat(65), "--exec-file", "/x/firecracker", "--uid", "1", "--gid", "1"])).toThrow(/Invalid instance ID/);
  });
});

describe("cgroup limits", () => {
  it("gives each vCPU one CPU of bandwidth and memory.max the guest's memory plus the VMM's overhead", () => {
    expect(cgroupLimits(1, 256, 0)).toEqual(["cpu.max=100000 100000", `memory.max=${256 * 1024 * 1024}`]);
    expect(cgroupLimits(4, 2048, 64)).toEqual(["cpu.max=400000 100000", `memory.max=${2112 * 1024 * 1024}`]);
  });
  it("refuses sizes that make no limit", () => {
    expect(() => cgroupLimits(0, 256, 0)).toThrow(RangeError);
    expect(() => cgroupLimits(1, 0.5, 0)).toThrow(RangeError);
  });
});

describe("jail ids", () => {
  it("round-trips a vm id through the command line", () => {
    expect(jailId("ab12")).toBe("oneshot-ab12");
    expect(vmIdOfCmdline(["/usr/bin/firecracker", "--id", "oneshot-ab12", "--api-sock", "/run/firecracker.socket"])).toBe("ab12");
  });
  it("ignores processes that are not ours and refuses ids the jailer would refuse", () => {
    expect(vmIdOfCmdline(["firecracker", "--id", "other-ab12"])).toBeUndefined();
    expect(vmIdOfCmdline(["firecracker", "--id", "oneshot-"])).toBeUndefined();
    expect(vmIdOfCmdline(["sleep", "10"])).toBeUndefined();
    expect(() => jailId("a/b")).toThrow(RangeError);
    expect(() => jailId("a".repeat(57))).toThrow(RangeError);
    expect(jailId("a".repeat(56))).toHaveLength(64);
  });
});

describe("uid pool", () => {
  it("takes the lowest free slot and says when the pool is exhausted", () => {
    expect(pickSlot(new Set(), 3)).toBe(1);
    expect(pickSlot(new Set([1, 3]), 3)).toBe(2);
    expect(pickSlot(new Set([1, 2, 3]), 3)).toBeUndefined();
  });
  it("maps slots to uids and back, base 0 meaning root", () => {
    expect(slotOwner({ base: 64200, size: 10 }, 3)).toEqual({ uid: 64203, gid: 64203 });
    expect(slotOwner({ base: 0, size: 10 }, 3)).toEqual({ uid: 0, gid: 0 });
    expect(slotOfUid({ base: 64200, size: 10 }, 64203)).toBe(3);
    expect(slotOfUid({ base: 64200, size: 10 }, 64200)).toBeUndefined();
    expect(slotOfUid({ base: 64200, size: 10 }, 64211)).toBeUndefined();
  });
});
