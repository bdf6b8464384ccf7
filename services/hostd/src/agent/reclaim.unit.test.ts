import { describe, expect, it } from "vitest";
import type { DestroyDeps } from "../vm/destroy.js";
import { reclaimResource, vmIdOfPath } from "./reclaim.js";

/** Deps that fail the test if reclaim touches anything: every case here must be refused first. */
const untouchable = new Proxy(
  {},
  {
    get: () => {
      throw new Error("reclaim touched the machine");
    },
  },
) as DestroyDeps;

describe("reclaim safety", () => {
  it("maps only paths inside <state>/hostd/vms/<vmId> to a VM", () => {
    expect(vmIdOfPath("/s", "/s/hostd/vms/abc123")).toBe("abc123");
    expect(vmIdOfPath("/s", "/s/hostd/vms/abc123/root.qcow2")).toBe("abc123");
    expect(vmIdOfPath("/s", "/s/hostd/vms/../../etc")).toBeUndefined();
    expect(vmIdOfPath("/s", "/etc/passwd")).toBeUndefined();
    expect(vmIdOfPath("/s", "/s/hostd/vms/ABC/x")).toBeUndefined();
  });

  it.each([
    { kind: "tap" as const, name: "eth0" },
    { kind: "tap" as const, name: "os-../x" },
    { kind: "nft" as const, name: "docker rule" },
    { kind: "disk" as const, name: "/var/lib/important.qcow2" },
    { kind: "disk" as const, name: "/s/hostd/vms/abc/vm.json" },
    { kind: "rundir" as const, name: "/s/hostd" },
    { kind: "vm" as const, name: "Not-A-VmId" },
  ])("refuses $kind $name without touching anything", async (r) => {
    await expect(reclaimResource(untouchable, "/s", r)).rejects.toThrow(/ReclaimRefused|not a|not/);
  });
});
