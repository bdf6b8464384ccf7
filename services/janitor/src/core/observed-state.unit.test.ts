import { describe, expect, it } from "vitest";
import { observeHeartbeat, observeInventory } from "./observed-state.js";
import { vmIdOf } from "./resource-names.js";
import { sec } from "./scenario.test-kit.js";

const inv = (taps: string[]) => ({ hostId: "h", vms: [], taps, disks: [], nftRules: [], runDirs: [] });

describe("observed state", () => {
  it("keeps a resource's first-seen time while every inventory lists it", () => {
    let o = observeInventory(undefined, inv(["os-a"]), sec(0), 1);
    o = observeInventory(o, inv(["os-a", "os-b"]), sec(15), 2);
    expect(o.inventory!.firstSeenAt).toEqual(
      new Map([
        ["tap:os-a", sec(0)],
        ["tap:os-b", sec(15)],
      ]),
    );
  });

  it("remembers when a VM's process, and anything of it, was last listed", () => {
    let o = observeInventory(undefined, { ...inv(["os-a"]), vms: [{ vmId: "a", pid: 1 }] }, sec(0), 1);
    o = observeInventory(o, inv(["os-a"]), sec(15), 2);
    o = observeInventory(o, inv([]), sec(30), 3);
    expect(o.inventory!.lastSeenAt).toEqual(
      new Map([
        ["vm:a", sec(0)],
        ["any:a", sec(15)],
      ]),
    );
  });

  it("ignores an older or repeated inventory", () => {
    const o = observeInventory(undefined, inv(["os-a"]), sec(10), 5);
    expect(observeInventory(o, inv([]), sec(5), 4)).toBe(o);
    expect(observeInventory(o, inv([]), sec(10), 5)).toBe(o);
  });

  it("keeps the newest heartbeat", () => {
    const o = observeHeartbeat(undefined, "h", sec(10));
    expect(observeHeartbeat(o, "h", sec(5)).heartbeatAt).toBe(sec(10));
    expect(observeHeartbeat(o, "h", sec(20)).heartbeatAt).toBe(sec(20));
  });
});

describe("resource names", () => {
  it.each([
    ["vm", "k3j9x2ab", "k3j9x2ab"],
    ["tap", "os-k3j9x2ab", "k3j9x2ab"],
    ["nft", "oneshot:k3j9x2ab", "k3j9x2ab"],
    ["disk", "/var/lib/oneshot/hostd/vms/k3j9x2ab/root.qcow2", "k3j9x2ab"],
    ["rundir", "/var/lib/oneshot/hostd/vms/k3j9x2ab", "k3j9x2ab"],
    ["rundir", "/var/lib/oneshot/hostd/vms/k3j9x2ab/", "k3j9x2ab"],
  ] as const)("%s %s belongs to VM %s", (kind, name, vmId) => expect(vmIdOf(kind, name)).toBe(vmId));

  it.each([
    ["vm", "K3J9"],
    ["vm", "abcdefghijklm"],
    ["tap", "eth0"],
    ["tap", "os-Ab"],
    ["tap", "xos-abc"],
    ["nft", "oneshot-abc"],
    ["disk", "/var/lib/oneshot/hostd/vms/abc/../../../etc/shadow"],
    ["disk", "vms/abc/root.qcow2"],
    ["disk", "/data/vms/abc/sub/root.qcow2"],
    ["rundir", "/data/vms/abc/root.qcow2/x"],
    ["rundir", "/data/./vms/abc"],
  ] as const)("%s %s is not ours", (kind, name) => expect(vmIdOf(kind, name)).toBeUndefined());
});
