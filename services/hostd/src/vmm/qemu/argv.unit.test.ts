import { describe, expect, it } from "vitest";
import type { VmLaunchSpec } from "../port.js";
import { SANDBOX_OPTIONS, kernelCmdline, qemuArgv, qemuBinary, runDirOfArgv, vmIdOfArgv } from "./argv.js";

const spec: VmLaunchSpec = {
  vmId: "k3v9x0aa12",
  arch: "amd64",
  vcpus: 2,
  memMiB: 512,
  kernel: "/img/vmlinuz",
  initrd: "/img/initrd.img",
  rootDisk: "/run/vm/root.qcow2",
  configDisk: "/run/vm/config.ext4",
  net: { tap: "os-k3v9x0aa12", mac: "02:05:ac:1e:00:02" },
  runDir: "/run/vm",
  consoleLog: "/run/vm/console.log",
  consoleMaxBytes: 1 << 20,
  accel: "tcg",
};
const host = { sandbox: true, runAs: { uid: 64201, gid: 64201 }, chroot: "/run/vm/jail", tscKhz: 2300000, qmpSocket: "/run/vm/qmp.sock" };
const after = (argv: string[], flag: string) => argv.filter((_, i) => argv[i - 1] === flag);

describe("QEMU command line", () => {
  it("boots x86_64 guests on microvm, TCG with -cpu max, with the fixed hardening flags", () => {
    const a = qemuArgv(spec, host);
    expect(qemuBinary("amd64")).toBe("qemu-system-x86_64");
    expect(after(a, "-M")).toEqual(["microvm"]);
    expect(after(a, "-cpu")).toEqual(["max"]);
    expect(after(a, "-accel")).toEqual(["tcg"]);
    for (const f of ["-nodefaults", "-no-user-config", "-no-reboot"]) expect(a).toContain(f);
    expect(after(a, "-display")).toEqual(["none"]);
    expect(after(a, "-name")).toEqual(["oneshot-k3v9x0aa12"]);
    expect(after(a, "-sandbox")).toEqual([SANDBOX_OPTIONS]);
    expect(after(a, "-runas")).toEqual(["64201:64201"]);
    expect(after(a, "-chroot")).toEqual(["/run/vm/jail"]);
    expect(after(a, "-qmp")).toEqual(["unix:/run/vm/qmp.sock,server=on,wait=off"]);
    expect([after(a, "-m"), after(a, "-smp")]).toEqual([["512"], ["2"]]);
  });

  it("puts the root disk first (vda), the config drive second (writable: the agent erases its key block) (vdb), then the NIC on the tap without vhost", () => {
    const a = qemuArgv(spec, host);
    expect(after(a, "-drive")).toEqual([
      "id=root,file=/run/vm/root.qcow2,format=qcow2,if=none,cache=unsafe,discard=unmap",
      "id=config,file=/run/vm/config.ext4,format=raw,if=none",
    ]);
    expect(after(a, "-device")).toEqual([
      "virtio-blk-device,drive=root",
      "virtio-blk-device,drive=config",
      "virtio-net-device,netdev=net0,mac=02:05:ac:1e:00:02",
    ]);
    expect(after(a, "-netdev")).toEqual(["tap,id=net0,ifname=os-k3v9x0aa12,script=no,downscript=no,vhost=off"]);
  });

  it("uses the host TSC on x86 microvm and the guest contract's command line; nothing job-specific", () => {
    expect(kernelCmdline(spec, 2300000)).toBe("console=ttyS0 reboot=t panic=-1 quiet root=/dev/vda rw tsc=reliable tsc_early_khz=2300000");
    expect(kernelCmdline({ arch: "arm64" })).toBe("console=ttyAMA0 reboot=t panic=-1 quiet root=/dev/vda rw");
  });

  it("boots aarch64 guests on virt with cortex-a72 under TCG and the host CPU under KVM", () => {
    const arm = qemuArgv({ ...spec, arch: "arm64" }, { ...host, tscKhz: undefined });
    expect(qemuBinary("arm64")).toBe("qemu-system-aarch64");
    expect([after(arm, "-M"), after(arm, "-cpu")]).toEqual([["virt"], ["cortex-a72"]]);
    expect(after(arm, "-append")[0]).not.toContain("tsc");
    const kvm = qemuArgv({ ...spec, accel: "kvm" }, host);
    expect([after(kvm, "-accel"), after(kvm, "-cpu")]).toEqual([["kvm"], ["host"]]);
  });

  it("leaves out what the host cannot do: no NIC without a tap, no sandbox/runas when off", () => {
    const { net: _net, ...offline } = spec;
    const a = qemuArgv(offline, { qmpSocket: "/q", sandbox: false });
    expect(a).not.toContain("-netdev");
    expect(a).not.toContain("-sandbox");
    expect(a).not.toContain("-runas");
  });

  it("escapes commas in paths (QEMU option syntax) and reads the VM id back from a command line", () => {
    expect(after(qemuArgv({ ...spec, rootDisk: "/a,b/root.qcow2" }, host), "-drive")[0]).toContain("file=/a,,b/root.qcow2,");
    expect(vmIdOfArgv(qemuArgv(spec, host))).toBe("k3v9x0aa12");
    expect(runDirOfArgv(qemuArgv(spec, host))).toBe("/run/vm");
    expect(runDirOfArgv(qemuArgv(spec, { ...host, qmpSocket: "/a,b/qmp.sock" }))).toBe("/a,b");
    expect(vmIdOfArgv(["qemu-system-x86_64", "-name", "someone-else"])).toBeUndefined();
  });
});
