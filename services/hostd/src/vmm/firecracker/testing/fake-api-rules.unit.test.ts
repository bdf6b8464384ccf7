import { describe, expect, it } from "vitest";
import { handle, newState } from "./fake-api-rules.js";

// The fake's rules themselves (root "/" so existence checks look at real paths like /bin/sh).
describe("fake Firecracker API rules", () => {
  const fault = (r: { body?: unknown }) => (r.body as { fault_message: string }).fault_message;

  it("refuses InstanceStart without a boot source, and pre-boot resources after start", () => {
    const st = newState("oneshot-x", "/");
    expect(fault(handle(st, "PUT", "/actions", { action_type: "InstanceStart" }))).toMatch(/without kernel configuration/);
    expect(handle(st, "PUT", "/boot-source", { kernel_image_path: "/bin/sh" }).status).toBe(204);
    expect(handle(st, "PUT", "/actions", { action_type: "InstanceStart" })).toMatchObject({ status: 204, action: "InstanceStart" });
    expect(fault(handle(st, "PUT", "/machine-config", { vcpu_count: 1, mem_size_mib: 128 }))).toMatch(/not supported after starting/);
    expect(handle(st, "GET", "/", undefined).body).toMatchObject({ state: "Running" });
  });

  it("validates required fields, types, unknown fields, ids and the single root drive", () => {
    const st = newState("oneshot-x", "/");
    expect(fault(handle(st, "PUT", "/machine-config", { vcpu_count: 1 }))).toMatch(/missing field `mem_size_mib`/);
    expect(fault(handle(st, "PUT", "/machine-config", { vcpu_count: "1", mem_size_mib: 128 }))).toMatch(/invalid type/);
    expect(fault(handle(st, "PUT", "/machine-config", { vcpu_count: 33, mem_size_mib: 128 }))).toMatch(/vCPU number is invalid/);
    expect(fault(handle(st, "PUT", "/machine-config", { vcpu_count: 1, mem_size_mib: 128, bogus: 1 }))).toMatch(/unknown field/);
    expect(fault(handle(st, "PUT", "/drives/a", { drive_id: "b", path_on_host: "/bin/sh", is_root_device: true }))).toMatch(/does not match/);
    expect(handle(st, "PUT", "/drives/a", { drive_id: "a", path_on_host: "/bin/sh", is_root_device: true }).status).toBe(204);
    expect(fault(handle(st, "PUT", "/drives/b", { drive_id: "b", path_on_host: "/bin/sh", is_root_device: true }))).toMatch(/root block device already exists/);
    expect(fault(handle(st, "PUT", "/drives/c", { drive_id: "c", path_on_host: "/nope/disk", is_root_device: false }))).toMatch(/No such file/);
    expect(fault(handle(st, "PUT", "/network-interfaces/eth0", { iface_id: "eth0", host_dev_name: "tap0", guest_mac: "zz" }))).toMatch(/Invalid MAC/);
    expect(fault(handle(st, "PUT", "/actions", { action_type: "SendCtrlAltDel" }))).toMatch(/before starting/);
  });

  it("PATCH /drives/{id}: only after start, only an existing drive, the path must exist", () => {
    const st = newState("oneshot-x", "/");
    expect(handle(st, "PUT", "/boot-source", { kernel_image_path: "/bin/sh" }).status).toBe(204);
    expect(handle(st, "PUT", "/drives/job", { drive_id: "job", path_on_host: "/bin/sh", is_root_device: false, is_read_only: false }).status).toBe(204);
    expect(fault(handle(st, "PATCH", "/drives/job", { drive_id: "job", path_on_host: "/bin/sh" }))).toMatch(/before starting/);
    expect(handle(st, "PUT", "/actions", { action_type: "InstanceStart" }).status).toBe(204);
    expect(fault(handle(st, "PATCH", "/drives/nope", { drive_id: "nope", path_on_host: "/bin/sh" }))).toMatch(/Invalid block device ID/);
    expect(fault(handle(st, "PATCH", "/drives/job", { drive_id: "other" }))).toMatch(/does not match/);
    expect(fault(handle(st, "PATCH", "/drives/job", { drive_id: "job", path_on_host: "/nope/disk" }))).toMatch(/No such file/);
    expect(fault(handle(st, "PATCH", "/drives/job", { drive_id: "job", is_read_only: true }))).toMatch(/unknown field/);
    expect(handle(st, "PATCH", "/drives/job", { drive_id: "job", path_on_host: "/bin/sh" })).toMatchObject({
      status: 204,
      action: "DriveUpdated",
      driveId: "job",
    });
  });
});
