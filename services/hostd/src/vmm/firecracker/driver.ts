import { spawn, type ChildProcess } from "node:child_process";
import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Arch } from "@oneshot/proto";
import { machineArch } from "../../host/cpu.js";
import { processAlive, watchVmmProcess } from "../watch-process.js";
import { VmmError, type ProbeResult, type RunningVm, type VmExit, type VmLaunchSpec, type VmmDriver } from "../port.js";
import { FirecrackerApi } from "./api-client.js";
import { FC_ERROR } from "./api-error.js";
import { bootRequests, handOverRequest } from "./boot-requests.js";
import { placeFile, prepareChroot, removeChroot } from "./chroot-io.js";
import { chrootLayout, defaultChrootBase, jailPaths } from "./chroot-layout.js";
import { JAIL_ID_RE } from "./ids.js";
import { jailerArgv } from "./jailer-argv.js";
import { listJailed } from "./list-jailed.js";
import type { FirecrackerDriverOptions } from "./options.js";
import { probeFacts, probeVerdict, resolveBinary } from "./probe.js";
import { pickSlot, slotOfUid, slotOwner, type UidPool } from "./uid-pool.js";
import { uidsInUse } from "./uids-in-use.js";
import { waitForApi } from "./wait-api.js";
import { DEFAULT_CGROUP_PARENT } from "../cgroup/cgroup-plan.js";

/**
 * Firecracker behind the VMM port, always through the jailer: per-VM chroot, uid/gid from a
 * pool, cgroup v2 limits, default seccomp. Configured over its HTTP API on a unix socket;
 * the serial console is Firecracker's stdout (capped by the driver).
 */
export class FirecrackerDriver implements VmmDriver {
  readonly name = "firecracker" as const;
  readonly rootDiskFormat = "raw" as const;
  /** Firecracker's own memory in `memory.max`, reserved per VM in the host's capacity. */
  readonly memOverheadMiB: number;
  /** Where the jailer makes each VM's leaf (`<parent>/oneshot-<vmId>`): hostd's parent, as for QEMU. */
  private readonly parentCgroup: string;
  private readonly children = new Map<string, { child: ChildProcess; exited: Promise<VmExit> }>();
  /** Slots of VMs this driver started, from choosing the slot until the VMM has exited. */
  private readonly reserved = new Set<number>();
  private readonly pool: UidPool;
  private readonly firecrackerBin: string;
  private readonly jailerBin: string;

  constructor(private readonly o: FirecrackerDriverOptions) {
    this.pool = { base: o.uidBase, size: o.uidPoolSize ?? 4096 };
    this.firecrackerBin = o.firecrackerBin ?? "firecracker";
    this.jailerBin = o.jailerBin ?? "jailer";
    this.memOverheadMiB = o.memOverheadMiB ?? 64;
    this.parentCgroup = o.parentCgroup ?? DEFAULT_CGROUP_PARENT;
  }

  async probe(arch: Arch): Promise<ProbeResult> {
    const facts = await probeFacts(arch, {
      firecrackerBin: this.firecrackerBin,
      jailerBin: this.jailerBin,
      hostArch: this.o.hostArch ?? machineArch(process.arch),
      ...(this.o.cpuinfoPath ? { cpuinfoPath: this.o.cpuinfoPath } : {}),
      ...(this.o.kvmPath ? { kvmPath: this.o.kvmPath } : {}),
    });
    return probeVerdict(facts);
  }

  async start(spec: VmLaunchSpec): Promise<RunningVm> {
    if (this.children.has(spec.vmId)) throw new VmmError(spec.vmId, FC_ERROR.alreadyRunning, "a VMM for this VM is already running");
    if (!JAIL_ID_RE.test(`oneshot-${spec.vmId}`))
      throw new VmmError(spec.vmId, FC_ERROR.badId, "vm id cannot form a jailer id ([a-zA-Z0-9-], at most 64 with the oneshot- prefix)");
    const firecracker = await resolveBinary(this.firecrackerBin);
    const jailer = await resolveBinary(this.jailerBin);
    if (!firecracker || !jailer) throw new VmmError(spec.vmId, FC_ERROR.exited, `${firecracker ? this.jailerBin : this.firecrackerBin} not found`);
    const layout = chrootLayout(spec, { chrootBaseDir: this.o.chrootBaseDir, firecrackerBin: firecracker });
    const taken = await this.slotsInUseElsewhere();
    // From here to the reservation nothing awaits: two starts cannot pick the same slot.
    for (const s of this.reserved) taken.add(s);
    const slot = pickSlot(taken, this.pool.size);
    if (slot === undefined) throw new VmmError(spec.vmId, FC_ERROR.poolExhausted, `all ${this.pool.size} uid slots from ${this.pool.base + 1} are in use`);
    this.reserved.add(slot);
    const owner = slotOwner(this.pool, slot);
    let child: ChildProcess;
    try {
      await removeChroot(layout);
      await prepareChroot(layout, owner);
      const argv = jailerArgv({
        layout,
        firecrackerBin: firecracker,
        ...owner,
        chrootBaseDir: this.o.chrootBaseDir ?? defaultChrootBase(spec.runDir),
        vcpus: spec.vcpus,
        memMiB: spec.memMiB,
        memOverheadMiB: this.memOverheadMiB,
        netns: this.o.netns,
        parentCgroup: this.parentCgroup,
      });
      child = spawn(jailer, argv, { stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      this.reserved.delete(slot);
      throw new VmmError(spec.vmId, FC_ERROR.exited, `could not prepare or launch the jailer: ${(e as Error).message}`, { cause: e });
    }
    const { exited, stderr } = watchVmmProcess(child, {
      consoleLog: spec.consoleLog,
      consoleMaxBytes: spec.consoleMaxBytes,
      stderrFile: join(spec.runDir, "vmm.stderr"),
      onExit: () => {
        this.children.delete(spec.vmId);
        this.reserved.delete(slot);
      },
    });
    this.children.set(spec.vmId, { child, exited });
    const api = new FirecrackerApi(spec.vmId, layout.apiSock.onHost);
    try {
      const ready = await waitForApi(api, exited, this.o.apiReadyTimeoutMs ?? 30_000);
      if (ready !== "ready")
        throw new VmmError(spec.vmId, FC_ERROR.exited, `jailer/Firecracker exited before its API answered (${ready}): ${stderr().trim().slice(-1000)}`);
      const calls = bootRequests(spec, layout, {
        smt: this.o.smt ?? false,
        tscKhz: this.o.tscKhz,
        logLevel: this.o.logLevel === null ? undefined : (this.o.logLevel ?? "Warning"),
      });
      for (const c of calls) await api.put(c.path, c.body);
    } catch (e) {
      child.kill("SIGKILL");
      await exited;
      if (e instanceof VmmError) throw e;
      throw new VmmError(spec.vmId, FC_ERROR.exited, (e as Error).message, { cause: e });
    }
    return { vmId: spec.vmId, pid: child.pid ?? null, exited };
  }

  /**
   * Pool slots whose uid some process on this machine runs as: another hostd's Firecracker
   * VMs, and QEMU VMs too (the QEMU driver's `-runas` pool starts at the same base).
   */
  private async slotsInUseElsewhere(): Promise<Set<number>> {
    const used = new Set<number>();
    if (this.pool.base <= 0) return used;
    for (const uid of await uidsInUse(this.o.procDir)) {
      const slot = slotOfUid(this.pool, uid);
      if (slot !== undefined) used.add(slot);
    }
    return used;
  }

  /**
   * `SendCtrlAltDel` (the guest reboots, which ends Firecracker under `reboot=k`), then
   * SIGKILL after `graceMs`. x86 only: on arm64 Firecracker refuses the action and the grace
   * period simply runs out.
   */
  async stop(vmId: string, runDir: string, graceMs: number): Promise<void> {
    const own = this.children.get(vmId);
    const pids = own?.child.pid ? [own.child.pid] : (await this.list()).filter((v) => v.vmId === vmId).map((v) => v.pid);
    if (!pids.length) return;
    const sock = jailPaths(vmId, runDir, { chrootBaseDir: this.o.chrootBaseDir, firecrackerBin: this.firecrackerBin }).apiSock.onHost;
    await new FirecrackerApi(vmId, sock, Math.max(1, Math.min(graceMs, 3_000))).put("/actions", { action_type: "SendCtrlAltDel" }).catch(() => undefined);
    const gone = () => pids.every((p) => !processAlive(p));
    const deadline = Date.now() + graceMs;
    while (!gone() && Date.now() < deadline) await sleep(50);
    for (const p of pids) if (processAlive(p)) process.kill(p, "SIGKILL");
    if (own) await own.exited;
    else while (!gone()) await sleep(20);
  }

  /**
   * Warm hand-over (docs/warm-pool.md): hostd filled and grew `jobDisk`. The chroot's
   * `/job.raw` is the same file when it was hard-linked (the default base, in the run dir);
   * a copy (another filesystem) is made again from the filled file, owned by the VM's uid.
   * Then `PATCH /drives/job` (legal only after boot): Firecracker reopens the path, reads the
   * new size and tells the guest, whose agent then reads the job.
   */
  async handOver(vmId: string, runDir: string, jobDisk: string): Promise<void> {
    const spec = { vmId, runDir, kernel: "", initrd: "", rootDisk: "", configDisk: "", jobDisk };
    const layout = chrootLayout(spec, { chrootBaseDir: this.o.chrootBaseDir, firecrackerBin: this.firecrackerBin });
    const inJail = layout.jobDisk!;
    const seen = await stat(inJail.onHost).catch(() => undefined);
    if (!seen) throw new VmmError(vmId, FC_ERROR.exited, `the job drive is not in the VM's chroot (${inJail.onHost})`);
    const filled = await stat(jobDisk);
    if (seen.ino !== filled.ino || seen.dev !== filled.dev) await placeFile(inJail, { uid: seen.uid, gid: seen.gid });
    const call = handOverRequest(layout)!;
    const sock = layout.apiSock.onHost;
    await new FirecrackerApi(vmId, sock).patch(call.path, call.body);
  }

  async list(): Promise<{ vmId: string; pid: number; runDir?: string }[]> {
    return (await listJailed(this.o.procDir)).map(({ vmId, pid, runDir }) => ({ vmId, pid, ...(runDir ? { runDir } : {}) }));
  }

  /** Removes the VM's chroot, its cgroup (both left behind by the jailer) and its stderr file. */
  async cleanup(vmId: string, runDir: string): Promise<void> {
    const paths = jailPaths(vmId, runDir, { chrootBaseDir: this.o.chrootBaseDir, firecrackerBin: this.firecrackerBin });
    const cgroupParent = join(this.o.cgroupRoot ?? "/sys/fs/cgroup", this.parentCgroup);
    await removeChroot(paths, cgroupParent);
    if (!this.o.chrootBaseDir) await rm(paths.base, { recursive: true, force: true });
    await rm(join(runDir, "vmm.stderr"), { force: true });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
