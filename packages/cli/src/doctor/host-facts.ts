import { spawn } from "node:child_process";
import { constants } from "node:fs";
import { access, readFile } from "node:fs/promises";
import { cgroup2Mount, findImages, machineArch, qemuBinary } from "@oneshot/hostd";
import type { Arch } from "@oneshot/proto";
import { cgroupCheck, imagesCheck, networkCheck, nftCheck, qemuCheck } from "./host-checks.js";
import { kvmCheck } from "./kvm-check.js";
import type { Finding } from "./verdict.js";

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (127: not installed), with `input` on stdin and a time limit. */
export function run(cmd: string, args: string[], o: { input?: string; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], timeout: o.timeoutMs ?? 10_000 });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.once("error", (e: NodeJS.ErrnoException) => resolve({ code: e.code === "ENOENT" ? 127 : 1, stdout, stderr: stderr || e.message }));
    p.once("close", (code, signal) => resolve({ code: code ?? 128, stdout, stderr: signal ? `${stderr}killed by ${signal} (timed out)` : stderr }));
    p.stdin.on("error", () => undefined);
    p.stdin.end(o.input ?? "");
  });
}

const ARCHS: Arch[] = ["amd64", "arm64"];
const canOpen = (path: string, mode: number) =>
  access(path, mode).then(
    () => true,
    () => false,
  );

export interface HostSettings {
  arch: Arch;
  requestedAccel: "auto" | "kvm" | "tcg";
  imageDir: string;
  bridge: string;
  cgroupPolicy: "auto" | "required" | "off";
}

/**
 * Measures the machine (nothing is changed but a tap and a bridge made and removed at once, to
 * know that they can be made) and judges each fact with the pure checks.
 */
export async function hostFindings(s: HostSettings): Promise<Finding[]> {
  const found = Object.fromEntries(await Promise.all(ARCHS.map(async (a) => [a, (await findImages(s.imageDir, a)).map((i) => i.name)] as const))) as Record<
    Arch,
    string[]
  >;
  const versions = Object.fromEntries(
    await Promise.all(
      ARCHS.map(async (a) => {
        const bin = qemuBinary(a);
        const r = await run(bin, ["--version"]);
        return [a, { bin, code: r.code, out: r.code === 0 ? r.stdout : r.stderr }] as const;
      }),
    ),
  ) as Record<Arch, { bin: string; code: number; out: string }>;

  const devKvm = !(await canOpen("/dev/kvm", constants.F_OK)) ? "missing" : (await canOpen("/dev/kvm", constants.R_OK | constants.W_OK)) ? "rw" : "no-access";
  const host = machineArch(process.arch);
  // QEMU's own KVM start (KVM_GET_API_VERSION, KVM_CREATE_VM) with no machine and no guest, quit at once from its monitor.
  const qemuKvm =
    devKvm !== "missing" && host === s.arch && versions[s.arch].code === 0
      ? await run(qemuBinary(s.arch), ["-M", "none", "-accel", "kvm", "-display", "none", "-nodefaults", "-monitor", "stdio"], {
          input: "quit\n",
          timeoutMs: 20_000,
        })
      : undefined;
  const kvm = kvmCheck({
    arch: s.arch,
    machineArch: host,
    requested: s.requestedAccel,
    cpuinfo: await readFile("/proc/cpuinfo", "utf8").catch(() => ""),
    devKvm,
    ...(qemuKvm ? { qemuKvm: { code: qemuKvm.code, stderr: qemuKvm.stderr } } : {}),
    haveImage: found[s.arch].length > 0,
  });

  const nft = await run("nft", ["list", "tables"]);
  const ruleset = nft.code === 0 ? await run("nft", ["list", "ruleset"]) : nft;
  const tables = [...ruleset.stdout.matchAll(/^table (\S+) (oneshot\S*)/gm)].map((m) => `${m[1]} ${m[2]}`);

  const probe = `osdoc${process.pid % 100000}`;
  const tapTry = await run("ip", ["tuntap", "add", "dev", `${probe}t`, "mode", "tap"]);
  if (tapTry.code === 0) await run("ip", ["link", "del", `${probe}t`]);
  const bridgeTry = await run("ip", ["link", "add", "name", `${probe}b`, "type", "bridge"]);
  if (bridgeTry.code === 0) await run("ip", ["link", "del", `${probe}b`]);
  const link = await run("ip", ["-d", "-o", "link", "show", "dev", s.bridge]);
  const bridgeState = link.code !== 0 ? "absent" : !/\bbridge\b/.test(link.stdout) ? "not-a-bridge" : /[<,]UP[,>]/.test(link.stdout) ? "up" : "down";

  const mount = cgroup2Mount(await readFile("/proc/self/mounts", "utf8").catch(() => ""));
  const controllers = mount ? (await readFile(`${mount}/cgroup.controllers`, "utf8").catch(() => "")).trim().split(/\s+/).filter(Boolean) : [];

  return [
    kvm,
    ...qemuCheck({ target: s.arch, versions }),
    ...imagesCheck({ dir: s.imageDir, target: s.arch, found }),
    nftCheck({ code: ruleset.code, stderr: ruleset.stderr, root: process.getuid?.() === 0, hostdTables: tables }),
    ...networkCheck({ bridge: s.bridge, bridgeState, tun: await canOpen("/dev/net/tun", constants.F_OK), tapTry, bridgeTry }),
    cgroupCheck({ mount, controllers, policy: s.cgroupPolicy }),
  ];
}
