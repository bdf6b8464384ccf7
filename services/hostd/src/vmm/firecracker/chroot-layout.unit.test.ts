import { describe, expect, it } from "vitest";
import { bootArgs } from "./boot-args.js";
import { bootRequests, handOverRequest } from "./boot-requests.js";
import { chrootFiles, chrootLayout, jailPaths } from "./chroot-layout.js";
import { runDirOfChroot } from "./list-jailed.js";

const spec = {
  vmId: "ab12",
  arch: "amd64" as const,
  vcpus: 2,
  memMiB: 1024,
  kernel: "/img/vmlinux",
  initrd: "/img/initrd.img",
  rootDisk: "/state/run/ab12/root.raw",
  configDisk: "/state/run/ab12/config.ext4",
  runDir: "/state/run/ab12",
};

describe("chroot layout", () => {
  it("puts the jail under the run dir by default, at the jailer's fixed <base>/<exec name>/<id>/root", () => {
    const l = chrootLayout(spec, { firecrackerBin: "/opt/fc/firecracker-v1.10" });
    expect(l.jailDir).toBe("/state/run/ab12/fc-jail/firecracker-v1.10/oneshot-ab12");
    expect(l.root).toBe(`${l.jailDir}/root`);
    expect(l.apiSock).toEqual({ inChroot: "/run/firecracker.socket", onHost: `${l.root}/run/firecracker.socket` });
    expect(l.dirs).toEqual([{ inChroot: "/run", onHost: `${l.root}/run` }]);
  });

  it("maps every file the VM opens into the chroot; only the VM's own disks are its uid's", () => {
    const l = chrootLayout(spec, { chrootBaseDir: "/srv/jailer", firecrackerBin: "firecracker" });
    expect(chrootFiles(l).map((f) => [f.from, f.inChroot, f.onHost, f.shared])).toEqual([
      ["/img/vmlinux", "/vmlinux", "/srv/jailer/firecracker/oneshot-ab12/root/vmlinux", true],
      ["/img/initrd.img", "/initrd.img", "/srv/jailer/firecracker/oneshot-ab12/root/initrd.img", true],
      ["/state/run/ab12/root.raw", "/root.raw", "/srv/jailer/firecracker/oneshot-ab12/root/root.raw", false],
      ["/state/run/ab12/config.ext4", "/config.ext4", "/srv/jailer/firecracker/oneshot-ab12/root/config.ext4", false],
    ]);
  });

  it("puts a warm VM's job drive in the chroot as the VM's own file", () => {
    const l = chrootLayout({ ...spec, jobDisk: "/state/run/ab12/job.raw" }, { chrootBaseDir: "/srv/jailer", firecrackerBin: "firecracker" });
    expect(l.jobDisk).toEqual({
      from: "/state/run/ab12/job.raw",
      inChroot: "/job.raw",
      onHost: "/srv/jailer/firecracker/oneshot-ab12/root/job.raw",
      shared: false,
    });
    expect(chrootFiles(l).at(-1)).toBe(l.jobDisk);
    expect(chrootLayout(spec, { firecrackerBin: "firecracker" }).jobDisk).toBeUndefined();
  });

  it("gives stop/cleanup the same paths from the vm id and run dir alone", () => {
    const l = chrootLayout(spec, { firecrackerBin: "/usr/bin/firecracker" });
    const p = jailPaths("ab12", spec.runDir, { firecrackerBin: "firecracker" });
    expect([p.jailDir, p.root, p.apiSock]).toEqual([l.jailDir, l.root, l.apiSock]);
  });

  it("tells a jailed process's run dir from its chroot, only under the default base", () => {
    expect(runDirOfChroot("/state/run/ab12/fc-jail/firecracker/oneshot-ab12/root")).toBe("/state/run/ab12");
    expect(runDirOfChroot("/srv/jailer/firecracker/oneshot-ab12/root")).toBeUndefined();
    expect(runDirOfChroot("/")).toBeUndefined();
  });
});

describe("boot sequence", () => {
  const l = chrootLayout(spec, { firecrackerBin: "firecracker" });

  it("configures everything before InstanceStart, with chroot paths and the contract's kernel args", () => {
    const calls = bootRequests({ ...spec, net: { tap: "os-tap3", mac: "06:00:0a:00:00:03" } }, l, { smt: false, logLevel: "Warning", tscKhz: 2_100_000 });
    expect(calls).toEqual([
      { path: "/logger", body: { log_path: "/firecracker.log", level: "Warning", show_level: true, show_log_origin: false } },
      { path: "/machine-config", body: { vcpu_count: 2, mem_size_mib: 1024, smt: false } },
      {
        path: "/boot-source",
        body: {
          kernel_image_path: "/vmlinux",
          initrd_path: "/initrd.img",
          boot_args: "console=ttyS0 reboot=k panic=1 pci=off quiet tsc=reliable tsc_early_khz=2100000",
        },
      },
      { path: "/drives/root", body: { drive_id: "root", path_on_host: "/root.raw", is_root_device: true, is_read_only: false } },
      { path: "/drives/config", body: { drive_id: "config", path_on_host: "/config.ext4", is_root_device: false, is_read_only: false } },
      { path: "/network-interfaces/eth0", body: { iface_id: "eth0", host_dev_name: "os-tap3", guest_mac: "06:00:0a:00:00:03" } },
      { path: "/actions", body: { action_type: "InstanceStart" } },
    ]);
  });

  it("has no NIC without spec.net, no logger when off, and no smt field on arm64", () => {
    const calls = bootRequests({ ...spec, arch: "arm64" }, l, { smt: true });
    expect(calls.map((c) => c.path)).toEqual(["/machine-config", "/boot-source", "/drives/root", "/drives/config", "/actions"]);
    expect(calls[0]!.body).toEqual({ vcpu_count: 2, mem_size_mib: 1024 });
  });

  it("a warm VM: the job drive is attached writable before InstanceStart, and the hand-over PATCHes the same path", () => {
    const lw = chrootLayout({ ...spec, jobDisk: "/state/run/ab12/job.raw" }, { firecrackerBin: "firecracker" });
    const calls = bootRequests(spec, lw, { smt: false });
    expect(calls.map((c) => c.path)).toEqual(["/machine-config", "/boot-source", "/drives/root", "/drives/config", "/drives/job", "/actions"]);
    expect(calls[4]!.body).toEqual({ drive_id: "job", path_on_host: "/job.raw", is_root_device: false, is_read_only: false });
    expect(handOverRequest(lw)).toEqual({ path: "/drives/job", body: { drive_id: "job", path_on_host: "/job.raw" } });
    expect(handOverRequest(l)).toBeUndefined();
  });

  it("kernel args: nothing job-specific, extra args last, no TSC hints on arm64", () => {
    expect(bootArgs({ arch: "arm64", extraCmdline: " loglevel=4 " })).toBe("console=ttyS0 reboot=k panic=1 pci=off quiet loglevel=4");
    expect(bootArgs({ arch: "amd64" })).toBe("console=ttyS0 reboot=k panic=1 pci=off quiet tsc=reliable");
  });
});
