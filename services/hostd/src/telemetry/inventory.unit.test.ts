import { describe, expect, it } from "vitest";
import type { VmRecord } from "../vm/run-dir.js";
import { assembleInventory, type RawInventory } from "./inventory.js";

const rec = (vmId: string, hostId: string): VmRecord => ({
  vmId,
  jobId: `loc-${vmId}`,
  hostId,
  attempt: 0,
  kind: "script",
  correlationId: "c",
  scheduledEventId: "e",
  phase: "running",
  acceptedAt: "2026-01-01T00:00:00Z",
  startedAt: "2026-01-01T00:00:01Z",
  events: {},
  spec: { arch: "amd64", vcpus: 1, memMiB: 256, diskGiB: 1, image: "minimal", timeoutSec: 60 },
});
const link = (name: string, master?: string) => ({ name, up: true, addresses: [], ...(master ? { master } : {}) });

const raw: RawInventory = {
  hostId: "h1",
  bridge: "osbr0",
  vmsDir: "/s/hostd/vms",
  processes: [
    { vmId: "mine1", pid: 10, runDir: "/s/hostd/vms/mine1" },
    { vmId: "orphan1", pid: 11 },
    { vmId: "theirs1", pid: 12 },
    { vmId: "otherstate1", pid: 13, runDir: "/elsewhere/hostd/vms/otherstate1" },
  ],
  links: [link("eth0"), link("osbr0"), link("os-mine1", "osbr0"), link("os-lost1"), link("os-theirs1", "osbr1"), link("os-other", "docker0")],
  runDirs: [
    { vmId: "mine1", path: "/s/hostd/vms/mine1", record: rec("mine1", "h1"), files: ["vm.json", "root.qcow2", "config.ext4", "console.log"] },
    { vmId: "theirs1", path: "/s/hostd/vms/theirs1", record: rec("theirs1", "h2"), files: ["root.qcow2"] },
    { vmId: "broken1", path: "/s/hostd/vms/broken1", record: undefined, files: ["root.qcow2.tmp", "config.ext4"] },
  ],
  nftComments: ["oneshot:mine1", "oneshot:gone1"],
};

describe("inventory", () => {
  const inv = assembleInventory(raw);

  it("reports VMM processes with their job when the run dir knows it, including ones nobody owns, not another state dir's", () => {
    expect(inv.vms).toEqual([
      { vmId: "mine1", pid: 10, jobId: "loc-mine1", startedAt: "2026-01-01T00:00:01Z" },
      { vmId: "orphan1", pid: 11 },
    ]);
  });

  it("reports os-* taps on this host's bridge or on none, not another hostd's", () => {
    expect(inv.taps).toEqual(["os-lost1", "os-mine1"]);
  });

  it("reports disks and run dirs of this host and of nobody, and this bridge's tagged rules", () => {
    expect(inv.disks).toEqual(["/s/hostd/vms/broken1/config.ext4", "/s/hostd/vms/mine1/config.ext4", "/s/hostd/vms/mine1/root.qcow2"]);
    expect(inv.runDirs).toEqual(["/s/hostd/vms/broken1", "/s/hostd/vms/mine1"]);
    expect(inv.nftRules).toEqual(["oneshot:mine1", "oneshot:gone1"]);
    expect(inv.hostId).toBe("h1");
  });
});
