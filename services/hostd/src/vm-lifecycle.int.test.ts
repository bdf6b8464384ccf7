import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing, waitFor } from "@oneshot/testing";
import { readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { qmpCommand } from "./vmm/qemu/qmp.js";
import { HostdHarness, missingImage, testImageDir } from "./testing/hostd-harness.js";
import { findImages } from "./vm/images.js";

// The real hostd process with a real nats-server boots real QEMU guests (TCG here) on a real
// bridge with real nftables; the test appends what the scheduler would and reads the events.
const skip = missing("nats", "root", "qemu-x86", "nft") ?? missingImage("amd64");
const T = 300_000;

describe.skipIf(skip)("hostd runs one-shot VMs (real hostd, NATS, QEMU, taps, nftables)", () => {
  const h = new HostdHarness({ HOSTD_MAX_VCPUS: "4", HOSTD_MAX_MEM_MIB: "4096", HOSTD_MAX_CONCURRENT_VMS: "2", HOSTD_TIMEOUT_GRACE: "2" });
  beforeAll(() => h.start(), T);
  afterAll(() => h.dispose(), T);

  it("registers with capacity, accel, arch, an X25519 key and exactly the images on disk", async () => {
    const reg = h.events.find((e) => e.type === "HostRegistered")!;
    // minimal, plus full when images/build-full.sh has been run here.
    const onDisk = (await findImages(testImageDir(), "amd64")).map((i) => i.name);
    expect(onDisk[0]).toBe("minimal");
    expect(reg.data).toMatchObject({ hostId: h.hostId, arch: "amd64", vmm: "qemu", emulated: false, images: onDisk });
    const d = reg.data as { accel: string; publicKey: string; capacity: { vcpus: number } };
    expect(["kvm", "tcg"]).toContain(d.accel);
    expect(Buffer.from(d.publicKey, "base64")).toHaveLength(32);
    expect(h.logs).toMatch(/"accel":"(kvm|tcg)".*"msg":"KVM (works|unusable)/);
  });

  it(
    "runs a script that exits 3: VmExited exitCode 3, its output in VmOutput, then nothing left",
    async () => {
      const { vmId, correlationId } = await h.schedule({ script: "echo hello-from-the-guest\necho second line >&2\nexit 3\n" });
      const destroyed = await h.waitEvent("VmDestroyed", vmId);
      const types = h.vmEvents(vmId).map((e) => e.type);
      expect(types).toEqual(["VmBootRequested", "VmBooted", "VmExited", "VmDestroyed"]);
      const exited = h.vmEvents(vmId).find((e) => e.type === "VmExited")!;
      expect(exited.data).toMatchObject({ exitCode: 3, reason: "exited" });
      const booted = h.vmEvents(vmId).find((e) => e.type === "VmBooted")!.data as { timings: Record<string, number>; accel: string };
      for (const k of ["diskMs", "configMs", "netMs", "vmmStartMs", "agentReadyMs", "totalMs"]) expect(booted.timings[k]).toBeGreaterThan(0);
      expect(h.vmEvents(vmId).every((e) => e.correlationId === correlationId)).toBe(true);
      expect(destroyed.data.removed.some((r) => r.startsWith("tap:os-"))).toBe(true);
      await expect.poll(() => h.consoleText(vmId), { timeout: 10_000 }).toMatch(/^ONESHOT-JOB-EXIT=3 mac=[0-9a-f]{64}\r?$/m);
      expect(h.consoleText(vmId)).toMatch(/^hello-from-the-guest\r?$/m);
      expect(h.consoleText(vmId)).toMatch(/^second line\r?$/m);
      console.log(JSON.stringify({ test: "exit-3", timings: booted.timings }));
      expect(h.leftovers(vmId)).toEqual([]);
    },
    T,
  );

  it(
    "kills a VM that outlives its timeout and reports it (the guest is frozen so only hostd can end it)",
    async () => {
      const { vmId } = await h.schedule({ script: "echo started; sleep 600\n", spec: { timeoutSec: 15 } });
      await h.waitEvent("VmBooted", vmId);
      // Freeze the guest: its own timeout can no longer fire, as with a hung kernel.
      await qmpCommand(join(h.state, "hostd", "vms", vmId, "qmp.sock"), "stop");
      const exited = await h.waitEvent("VmExited", vmId);
      expect(exited.data).toMatchObject({ exitCode: null, reason: "timeout" });
      await h.waitEvent("VmDestroyed", vmId);
      expect(h.leftovers(vmId)).toEqual([]);
    },
    T,
  );

  it(
    "runs two VMs at once and keeps a third waiting until one is destroyed (HOSTD_MAX_CONCURRENT_VMS=2)",
    async () => {
      const a = await h.schedule({ script: "echo a-up; sleep 600\n" });
      const b = await h.schedule({ script: "echo b-up; sleep 600\n" });
      const pids = [(await h.waitEvent("VmBooted", a.vmId)).data.pid, (await h.waitEvent("VmBooted", b.vmId)).data.pid];
      // Each VMM jailed: its own unprivileged uid, no capabilities, a seccomp filter, chrooted.
      const jail = pids.map((pid) => {
        const status = readFileSync(`/proc/${pid}/status`, "utf8");
        const field = (k: string) => new RegExp(`^${k}:\\s+(\\S+)`, "m").exec(status)?.[1];
        return { uid: Number(field("Uid")), capEff: field("CapEff"), seccomp: field("Seccomp"), root: readlinkSync(`/proc/${pid}/root`) };
      });
      for (const [i, j] of jail.entries()) {
        expect(j.uid).toBeGreaterThan(0);
        expect(j).toMatchObject({ capEff: "0000000000000000", seccomp: "2", root: join(h.state, "hostd", "vms", [a, b][i]!.vmId, "jail") });
      }
      expect(jail[0]!.uid).not.toBe(jail[1]!.uid);
      const c = await h.schedule({ script: "echo c-done\n" });
      const accepted = await h.waitEvent("VmBootRequested", c.vmId);
      // What is really running (hostd's inventory reads /proc): a and b, not c, in reports made after c was accepted.
      const later = await waitFor(
        "three inventories after c was accepted",
        () => {
          const invs = h.inventories.filter((i) => i.at >= accepted.seq);
          return invs.length >= 3 ? invs : undefined;
        },
        60_000,
      );
      for (const inv of later) {
        expect(inv.vms).toEqual(expect.arrayContaining([a.vmId, b.vmId]));
        expect(inv.vms).not.toContain(c.vmId);
      }
      expect(h.vmEvents(c.vmId).map((e) => e.type)).toEqual(["VmBootRequested"]);
      // Free a slot: c boots only then.
      await h.append({
        type: "ReclaimRequested",
        data: { hostId: h.hostId, reclaimId: `r-${a.vmId}`, resources: [{ kind: "vm", name: a.vmId, vmId: a.vmId }], reason: "test frees a slot" },
      });
      const aGone = await h.waitEvent("VmDestroyed", a.vmId);
      expect(h.vmEvents(a.vmId).find((e) => e.type === "VmExited")!.data).toMatchObject({ exitCode: null, reason: "killed" });
      await h.waitEvent("VmDestroyed", c.vmId);
      expect((await h.waitEvent("VmBooted", c.vmId)).seq).toBeGreaterThan(aGone.seq);
      expect(h.vmEvents(c.vmId).find((e) => e.type === "VmExited")!.data).toMatchObject({ exitCode: 0, reason: "exited" });
      const reclaimed = await h.waitEvent("ResourceReclaimed");
      expect(reclaimed.data).toMatchObject({ reclaimId: `r-${a.vmId}`, failed: [] });
      await h.append({
        type: "ReclaimRequested",
        data: { hostId: h.hostId, reclaimId: `r-${b.vmId}`, resources: [{ kind: "vm", name: b.vmId, vmId: b.vmId }], reason: "test done" },
      });
      await h.waitEvent("VmDestroyed", b.vmId);
      for (const v of [a, b, c]) expect(h.leftovers(v.vmId)).toEqual([]);
    },
    T,
  );
});
