import type { Arch } from "@oneshot/proto";
import { fail, ok, warn, type Finding } from "./verdict.js";

const ARCHS: Arch[] = ["amd64", "arm64"];

/**
 * Guest images per arch, as hostd finds them (`findImages`): the arch this host offers must have
 * one (every placement fails without it); the other arch only matters to emulate it.
 */
export function imagesCheck(f: { dir: string; target: Arch; found: Record<Arch, string[]> }): Finding[] {
  return ARCHS.map((a) => {
    const names = f.found[a];
    if (names.length) return ok(`images.${a}`, `${names.join(", ")} in ${f.dir}/${a}`);
    const build = `images/build-minimal.sh ${a} (or set HOSTD_IMAGE_DIR to where the images are)`;
    if (a === f.target) return fail(`images.${a}`, `no guest image in ${f.dir}/${a}: every placement on this host fails`, build);
    return ok(`images.${a}`, `none in ${f.dir}/${a} (needed only to offer ${a} guests: HOSTD_ARCH=${a})`);
  });
}

/** QEMU per arch: `--version` answered (the first line), or why not. Same rule as images. */
export function qemuCheck(f: { target: Arch; versions: Record<Arch, { bin: string; code: number; out: string }> }): Finding[] {
  return ARCHS.map((a) => {
    const v = f.versions[a];
    const pkg = a === "amd64" ? "qemu-system-x86" : "qemu-system-arm";
    if (v.code === 0) return ok(`qemu.${a}`, v.out.split("\n")[0]!.trim());
    if (a === f.target) return fail(`qemu.${a}`, `${v.bin} not runnable (${v.out.trim().split("\n")[0] || `exit ${v.code}`})`, `apt-get install ${pkg}`);
    return ok(`qemu.${a}`, `${v.bin} not installed (needed only to offer ${a} guests: apt-get install ${pkg})`);
  });
}

/** `nft list ruleset` ran: hostd's isolation rules can be written. */
export function nftCheck(f: { code: number; stderr: string; root: boolean; hostdTables: string[] }): Finding {
  if (f.code === 127) return fail("nftables", "nft not installed", "apt-get install nftables");
  if (f.code !== 0) {
    const why = f.stderr.trim().split("\n")[0] || `exit ${f.code}`;
    return fail(
      "nftables",
      `nft list ruleset failed: ${why}`,
      f.root ? "the kernel needs nf_tables (modprobe nf_tables)" : "hostd needs root (CAP_NET_ADMIN): run it and the doctor as root",
    );
  }
  return ok("nftables", f.hostdTables.length ? `usable; oneshot tables present: ${f.hostdTables.join(", ")}` : "usable (hostd writes its tables at start)");
}

/**
 * Taps and the bridge: a tap and a bridge could be made (and were removed at once), and hostd's
 * bridge is there and up, or absent (hostd creates it at start).
 */
export function networkCheck(f: {
  bridge: string;
  bridgeState: "absent" | "up" | "down" | "not-a-bridge";
  tun: boolean;
  tapTry: { code: number; stderr: string };
  bridgeTry: { code: number; stderr: string };
}): Finding[] {
  const line = (s: string) => s.trim().split("\n")[0] ?? "";
  const taps = !f.tun
    ? fail("taps", "/dev/net/tun missing: no tap devices for VMs", "modprobe tun")
    : f.tapTry.code !== 0
      ? fail("taps", `cannot create a tap device: ${line(f.tapTry.stderr)}`, "hostd needs root (CAP_NET_ADMIN) and the tun module")
      : ok("taps", "a tap device can be created (made and removed)");
  const bridges =
    f.bridgeTry.code !== 0
      ? fail("bridge", `cannot create a bridge: ${line(f.bridgeTry.stderr)}`, "hostd needs root (CAP_NET_ADMIN) and the bridge module (modprobe bridge)")
      : f.bridgeState === "up"
        ? ok("bridge", `${f.bridge} is up`)
        : f.bridgeState === "absent"
          ? ok("bridge", `${f.bridge} absent (hostd creates it at start); bridges can be created`)
          : f.bridgeState === "down"
            ? warn("bridge", `${f.bridge} exists but is down`, `ip link set ${f.bridge} up, or restart hostd (it sets the bridge up)`)
            : fail("bridge", `${f.bridge} exists and is not a bridge`, `set HOSTD_BRIDGE to another name, or remove that interface`);
  return [taps, bridges];
}

/** cgroup v2 with cpu and memory: the VMMs' cpu.max/memory.max limits (HOSTD_VMM_CGROUP). */
export function cgroupCheck(f: { mount: string | undefined; controllers: string[]; policy: "auto" | "required" | "off" }): Finding {
  if (f.policy === "off") return ok("cgroup", "HOSTD_VMM_CGROUP=off: VMMs run without cgroup limits");
  const missing = ["cpu", "memory"].filter((c) => !f.controllers.includes(c));
  const detail = !f.mount
    ? "no cgroup2 filesystem mounted"
    : missing.length
      ? `cgroup v2 at ${f.mount} offers no ${missing.join("/")} controller (bound to cgroup v1: a hybrid host)`
      : "";
  if (!detail) return ok("cgroup", `cgroup v2 at ${f.mount} with cpu and memory: VMMs get cpu.max and memory.max`);
  const fix = "boot with systemd.unified_cgroup_hierarchy=1 (cgroup v2 only), or run hostd under systemd with Delegate=yes";
  return f.policy === "required"
    ? fail("cgroup", `${detail}: every boot fails under HOSTD_VMM_CGROUP=required`, fix)
    : warn("cgroup", `${detail}: VMMs run without cpu.max/memory.max limits`, fix);
}
