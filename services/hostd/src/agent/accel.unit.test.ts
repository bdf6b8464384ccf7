import { describe, expect, it } from "vitest";
import { decideAccel } from "./accel.js";

const kvmOk = { ok: true, accel: "kvm" as const };
const noVmx = { ok: true, accel: "tcg" as const, reason: "no vmx/svm flag in /proc/cpuinfo" };

describe("accelerator decision", () => {
  it("never trusts an openable /dev/kvm in auto mode: a probe boot decides", () => {
    expect(decideAccel({ requested: "auto", emulated: false, driver: kvmOk, haveImage: true })).toEqual({ kind: "probe-boot" });
  });
  it("uses TCG without trying when the CPU shows no vmx/svm (KVM-PVM), saying why", () => {
    expect(decideAccel({ requested: "auto", emulated: false, driver: noVmx, haveImage: true })).toEqual({
      kind: "decided",
      accel: "tcg",
      reason: noVmx.reason,
    });
  });
  it("uses TCG for an emulated arch, and refuses HOSTD_ACCEL=kvm there or without KVM", () => {
    expect(decideAccel({ requested: "auto", emulated: true, driver: { ok: true, accel: "tcg", reason: "emulating arm64" }, haveImage: true })).toMatchObject({
      kind: "decided",
      accel: "tcg",
    });
    expect(decideAccel({ requested: "kvm", emulated: true, driver: kvmOk, haveImage: true }).kind).toBe("fatal");
    expect(decideAccel({ requested: "kvm", emulated: false, driver: noVmx, haveImage: true }).kind).toBe("fatal");
  });
  it("follows HOSTD_ACCEL=tcg/kvm, and falls back to TCG when there is no image to probe with", () => {
    expect(decideAccel({ requested: "tcg", emulated: false, driver: kvmOk, haveImage: true })).toMatchObject({ accel: "tcg" });
    expect(decideAccel({ requested: "kvm", emulated: false, driver: kvmOk, haveImage: false })).toMatchObject({ accel: "kvm" });
    expect(decideAccel({ requested: "auto", emulated: false, driver: kvmOk, haveImage: false })).toMatchObject({ accel: "tcg" });
  });
});
