import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing, waitFor } from "@oneshot/testing";
import { vmIdFor } from "@oneshot/proto";
import { HostdHarness, missingImage } from "./testing/hostd-harness.js";

// VmRetired (the reconciler: the provider says the VM's runner runs nothing and can take
// nothing) on the host subject: hostd ends that VM at once, by the reclaim path. Real hostd,
// NATS, QEMU guests, taps and nftables; one VM at a time so a second one waits in the queue.
const skip = missing("nats", "root", "qemu-x86", "nft") ?? missingImage("amd64");
const T = 300_000;

describe.skipIf(skip)("hostd ends a retired VM (real hostd, NATS, QEMU)", () => {
  const h = new HostdHarness({ HOSTD_MAX_VCPUS: "2", HOSTD_MAX_MEM_MIB: "2048", HOSTD_MAX_CONCURRENT_VMS: "1" });
  beforeAll(() => h.start(), T);
  afterAll(() => h.dispose(), T);

  it(
    "fails a queued VM before it boots, ignores an unknown one, kills a running one",
    async () => {
      const a = await h.schedule({ script: "echo a-up; sleep 600\n" });
      await h.waitEvent("VmBooted", a.vmId);
      const b = await h.schedule({ script: "echo never\n" });
      await h.waitEvent("VmBootRequested", b.vmId);

      // Queued: VmBootFailed(retired) and VmDestroyed, never booted; a runs on.
      await h.append({ type: "VmRetired", data: { hostId: h.hostId, vmId: b.vmId, reason: "runner removed: no job took it" } });
      const failed = await h.waitEvent("VmBootFailed", b.vmId);
      expect(failed.data).toMatchObject({ code: "retired", reason: "retired before it started: runner removed: no job took it" });
      await h.waitEvent("VmDestroyed", b.vmId);
      expect(h.vmEvents(b.vmId).map((e) => e.type)).toEqual(["VmBootRequested", "VmBootFailed", "VmDestroyed"]);
      expect(h.leftovers(b.vmId)).toEqual([]);

      // Unknown: logged, nothing else.
      const stranger = vmIdFor("not-on-this-host", 0);
      await h.append({ type: "VmRetired", data: { hostId: h.hostId, vmId: stranger, reason: "test" } });
      await waitFor("the ignore log line", () => h.logs.includes(`"vmId":"${stranger}"`) && /VmRetired for a VM this host does not run/.test(h.logs), 30_000);
      expect(h.vmEvents(stranger)).toEqual([]);
      expect(h.vmEvents(a.vmId).map((e) => e.type)).toEqual(["VmBootRequested", "VmBooted"]);

      // Running: killed now (VmExited killed), then destroyed.
      await h.append({ type: "VmRetired", data: { hostId: h.hostId, vmId: a.vmId, reason: "runner removed: idle deadline" } });
      const exited = await h.waitEvent("VmExited", a.vmId, 60_000);
      expect(exited.data).toMatchObject({ exitCode: null, reason: "killed" });
      await h.waitEvent("VmDestroyed", a.vmId);
      expect(h.logs).toMatch(/"reason":"runner removed: idle deadline".*"msg":"VM retired: killing it"/);
      expect(h.leftovers(a.vmId)).toEqual([]);
    },
    T,
  );
});
