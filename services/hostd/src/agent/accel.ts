import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Accel } from "@oneshot/proto";
import type { Logger } from "@oneshot/runtime";
import type { Exec } from "../host/exec.js";
import type { Links } from "../net/links.js";
import type { Nft } from "../net/nft.js";
import { buildConfigDrive, configDriveFiles, scriptLaunch } from "../vm/config-drive.js";
import { ConsoleMarkers } from "../vm/console-markers.js";
import { ConsoleTail } from "../vm/console-tail.js";
import { newMarkerKey } from "../vm/marker-auth.js";
import { destroyVm } from "../vm/destroy.js";
import type { GuestImage } from "../vm/images.js";
import { ensureRootDisk } from "../vm/root-disk.js";
import { runFiles } from "../vm/run-dir.js";
import type { ProbeResult, VmmDriver } from "../vmm/port.js";

export type AccelDecision = { kind: "decided"; accel: Accel; reason: string } | { kind: "probe-boot" } | { kind: "fatal"; reason: string };

/**
 * Which accelerator to use, before any boot (pure). KVM is never trusted on a `/dev/kvm` that
 * merely opens: in `auto` mode it must also survive a real probe boot (`probeBoot`).
 */
export function decideAccel(o: { requested: "auto" | "kvm" | "tcg"; emulated: boolean; driver: ProbeResult; haveImage: boolean }): AccelDecision {
  if (o.requested === "tcg") return { kind: "decided", accel: "tcg", reason: "HOSTD_ACCEL=tcg" };
  if (o.emulated) {
    if (o.requested === "kvm")
      return { kind: "fatal", reason: "HOSTD_ACCEL=kvm, but HOSTD_ARCH names another arch than this machine's: emulated guests run under TCG only" };
    return { kind: "decided", accel: "tcg", reason: o.driver.reason ?? "emulated arch" };
  }
  if (o.driver.accel !== "kvm") {
    if (o.requested === "kvm") return { kind: "fatal", reason: `HOSTD_ACCEL=kvm, but KVM is not usable here: ${o.driver.reason ?? "unknown"}` };
    return { kind: "decided", accel: "tcg", reason: o.driver.reason ?? "KVM not available" };
  }
  if (o.requested === "kvm") return { kind: "decided", accel: "kvm", reason: "HOSTD_ACCEL=kvm (trusted without a probe boot)" };
  if (!o.haveImage) return { kind: "decided", accel: "tcg", reason: "no guest image to probe KVM with (build images/ first)" };
  return { kind: "probe-boot" };
}

export const PROBE_VM_ID = "kvmprobe";

/**
 * Boots the guest image once under `accel` with a job that exits 0 and no network: KVM works
 * only if the agent reports `ONESHOT-JOB-EXIT=0` within the timeout. (On nested hosts whose
 * /dev/kvm is KVM-PVM, an ordinary guest crawls for minutes and then dies.) Everything the
 * probe made is destroyed before it returns.
 */
export async function probeBoot(o: {
  exec: Exec;
  driver: VmmDriver;
  nft: Nft;
  links: Links;
  image: GuestImage;
  stateDir: string;
  accel: Accel;
  timeoutMs: number;
  log: Logger;
}): Promise<{ ok: boolean; reason: string; ms: number }> {
  const runDir = join(o.stateDir, "hostd", "probe", PROBE_VM_ID);
  const files = runFiles(runDir, o.driver.rootDiskFormat);
  const t0 = performance.now();
  const markerKey = newMarkerKey();
  const markers = new ConsoleMarkers(markerKey);
  const tail = new ConsoleTail(files.consoleLog, (text) => void markers.push(text));
  const deps = { driver: o.driver, nft: o.nft, links: o.links };
  await destroyVm(deps, PROBE_VM_ID, runDir);
  try {
    await mkdir(runDir, { recursive: true, mode: 0o700 });
    await ensureRootDisk(o.exec, { base: o.image.rootfs, path: files.rootDisk, format: o.driver.rootDiskFormat, diskGiB: 1 });
    await buildConfigDrive(
      o.exec,
      files.configDisk,
      configDriveFiles({
        source: "script",
        jobId: "kvm-probe",
        hostname: "oneshot-kvm-probe",
        timeoutSec: Math.ceil(o.timeoutMs / 1000),
        launch: scriptLaunch(),
        script: "exit 0\n",
      }),
      markerKey,
    );
    const vm = await o.driver.start({
      vmId: PROBE_VM_ID,
      arch: o.image.arch,
      vcpus: 1,
      memMiB: 256,
      kernel: o.image.kernel,
      initrd: o.image.initrd,
      rootDisk: files.rootDisk,
      configDisk: files.configDisk,
      runDir,
      consoleLog: files.consoleLog,
      consoleMaxBytes: 1024 * 1024,
      accel: o.accel,
    });
    tail.start();
    let exited = false;
    void vm.exited.then(() => (exited = true));
    const deadline = t0 + o.timeoutMs;
    while (markers.exitCode === undefined && !exited && performance.now() < deadline) {
      await Promise.race([vm.exited, new Promise((r) => setTimeout(r, 100))]);
      await tail.poll();
    }
    await tail.stop();
    const ms = Math.round(performance.now() - t0);
    if (markers.exitCode === 0) return { ok: true, reason: `probe boot ran a job in ${ms}ms`, ms };
    if (markers.exitCode !== undefined)
      return { ok: false, reason: `probe job exited ${markers.exitCode}${markers.agentError ? ` (${markers.agentError})` : ""}`, ms };
    if (exited) return { ok: false, reason: "probe guest stopped before its job ran (KVM internal error?)", ms };
    return { ok: false, reason: `probe guest did not finish a trivial job within ${Math.round(o.timeoutMs / 1000)}s (guests crawl under this KVM)`, ms };
  } catch (e) {
    return { ok: false, reason: `probe boot failed: ${(e as Error).message}`, ms: Math.round(performance.now() - t0) };
  } finally {
    await tail.stop().catch(() => undefined);
    await destroyVm(deps, PROBE_VM_ID, runDir, { graceMs: 1_000 }).catch((e: unknown) => o.log.warn({ err: e }, "cannot remove the KVM probe VM"));
  }
}
