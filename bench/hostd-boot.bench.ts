// `npm run bench -- hostd-boot [--n 5] [--arch amd64|arm64] [--mem 256]` (as root, after
// `npm run build` and images/build-minimal.sh). One JSON line per case.
//
//  baseline-boot:  the same guest image booted by a bare `qemu-system-*` command (no hostd, no
//                  network, config drive made by hand), N times one after another: wall time
//                  from spawn to the agent's ONESHOT-AGENT-READY line. The figure the rest is
//                  compared with.
//  hostd-boot:     N local jobs through the real hostd process and a real nats-server, one at a
//                  time: medians of VmBooted.timings (diskMs, configMs, netMs, vmmStartMs,
//                  agentReadyMs = VMM spawn → ready marker, totalMs = steps start → ready), the
//                  ratio of agentReadyMs and totalMs to the baseline, and placement → VmDestroyed.
//  qemu-rss:       resident memory of the QEMU process of a running guest (its job sleeps), per
//                  guest MiB: what one VM costs the host beyond what the guest touches.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { exec } from "../services/hostd/src/host/exec.js";
import { tscKhz } from "../services/hostd/src/host/cpu.js";
import { buildConfigDrive, configDriveFiles, scriptLaunch } from "../services/hostd/src/vm/config-drive.js";
import { newMarkerKey } from "../services/hostd/src/vm/marker-auth.js";
import { ensureRootDisk } from "../services/hostd/src/vm/root-disk.js";
import { kernelCmdline, qemuBinary } from "../services/hostd/src/vmm/qemu/argv.js";
import { HostdHarness, missingImage, testImageDir } from "../services/hostd/src/testing/hostd-harness.js";

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "5" },
    arch: { type: "string", default: process.arch === "arm64" ? "arm64" : "amd64" },
    mem: { type: "string", default: "256" },
  },
});
const n = Number(values.n);
const arch = values.arch as "amd64" | "arm64";
const memMiB = Number(values.mem);
const line = (o: Record<string, unknown>) => console.log(JSON.stringify(o));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const r1 = (x: number) => Math.round(x * 10) / 10;

if (process.getuid?.() !== 0) throw new Error("run as root (taps, nftables)");
const why = missingImage(arch);
if (why) throw new Error(why);

// Baseline: the image booted by a bare QEMU command, the way images/boot-check.sh does.
async function bareBoot(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "oneshot-bench-bare-"));
  try {
    const img = join(testImageDir(), arch);
    await ensureRootDisk(exec, { base: join(img, "rootfs.ext4"), path: join(dir, "root.qcow2"), format: "qcow2", diskGiB: 1 });
    await buildConfigDrive(
      exec,
      join(dir, "config.ext4"),
      configDriveFiles({ source: "script", launch: scriptLaunch(), jobId: "bench", hostname: "bench", timeoutSec: 60, script: "exit 0\n" }),
      newMarkerKey(),
    );
    const tsc = arch === "amd64" ? tscKhz(readFileSync("/proc/cpuinfo", "utf8"), (await exec("dmesg", [])).stdout) : undefined;
    const machine = arch === "amd64" ? ["-M", "microvm", "-cpu", "max"] : ["-M", "virt", "-cpu", "cortex-a72"];
    const t0 = performance.now();
    const p = spawn(
      qemuBinary(arch),
      [
        ...machine,
        "-accel",
        "tcg",
        "-m",
        String(memMiB),
        "-smp",
        "1",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
        "-kernel",
        join(img, "vmlinuz"),
        "-initrd",
        join(img, "initrd.img"),
        "-append",
        kernelCmdline({ arch }, tsc),
        "-chardev",
        "stdio,id=c,signal=off",
        "-serial",
        "chardev:c",
        "-drive",
        `id=root,file=${join(dir, "root.qcow2")},format=qcow2,if=none`,
        "-device",
        "virtio-blk-device,drive=root",
        "-drive",
        `id=cfg,file=${join(dir, "config.ext4")},format=raw,if=none,readonly=on`,
        "-device",
        "virtio-blk-device,drive=cfg",
      ],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    let out = "";
    let ready = 0;
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (!ready && /^ONESHOT-AGENT-READY( mac=[0-9a-f]{64})?\r?$/m.test(out)) ready = performance.now() - t0;
    });
    await new Promise((r) => p.once("exit", r));
    if (!ready) throw new Error(`bare boot never got ready:\n${out.slice(-2000)}`);
    return ready;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const bare: number[] = [];
for (let i = 0; i < n; i++) bare.push(await bareBoot());
const base = median(bare);
line({ case: "baseline-boot", arch, accel: "tcg", memMiB, n, agentReadyMsMedian: r1(base), samples: bare.map(r1) });

const h = new HostdHarness({
  HOSTD_ARCH: arch,
  HOSTD_ACCEL: "tcg",
  HOSTD_MAX_VCPUS: "2",
  HOSTD_MAX_MEM_MIB: String(memMiB * 2),
  HOSTD_MAX_CONCURRENT_VMS: "1",
  LOG_LEVEL: "warn",
});
try {
  await h.start();
  const timings: Record<string, number[]> = {};
  const endToEnd: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const { vmId } = await h.schedule({ script: "exit 0\n", spec: { arch, memMiB } });
    const booted = await h.waitEvent("VmBooted", vmId);
    await h.waitEvent("VmDestroyed", vmId);
    endToEnd.push(performance.now() - t0);
    for (const [k, v] of Object.entries(booted.data.timings)) (timings[k] ??= []).push(v);
  }
  const med = Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, r1(median(v))]));
  line({
    case: "hostd-boot",
    arch,
    accel: "tcg",
    memMiB,
    n,
    medians: med,
    agentReadyVsBaseline: +(med.agentReadyMs! / base).toFixed(3),
    totalVsBaseline: +(med.totalMs! / base).toFixed(3),
    placementToDestroyedMsMedian: r1(median(endToEnd)),
    samples: { agentReadyMs: timings.agentReadyMs!.map(r1), totalMs: timings.totalMs!.map(r1) },
  });

  const rss: number[] = [];
  for (let i = 0; i < Math.min(n, 3); i++) {
    const { vmId } = await h.schedule({ script: "sleep 4\n", spec: { arch, memMiB } });
    const booted = await h.waitEvent("VmBooted", vmId);
    await new Promise((r) => setTimeout(r, 2_000)); // the job is sleeping: the guest is at rest
    const status = readFileSync(`/proc/${booted.data.pid}/status`, "utf8");
    rss.push(Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) / 1024);
    await h.waitEvent("VmDestroyed", vmId);
  }
  line({
    case: "qemu-rss",
    arch,
    accel: "tcg",
    guestMemMiB: memMiB,
    rssMiBMedian: r1(median(rss)),
    rssPerGuestMiB: +(median(rss) / memMiB).toFixed(3),
    samples: rss.map(r1),
  });
} finally {
  await h.dispose();
}
