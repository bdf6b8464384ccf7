import { describe, expect, it } from "vitest";
import { VmmError } from "../port.js";
import { apiFault } from "./api-error.js";
import { probeVerdict, type ProbeFacts } from "./probe.js";

describe("API error mapping", () => {
  it("carries Firecracker's fault_message and the call it concerns", () => {
    const e = apiFault("ab12", "PUT", "/boot-source", 400, JSON.stringify({ fault_message: "Cannot open kernel image: No such file" }));
    expect(e).toBeInstanceOf(VmmError);
    expect(e).toMatchObject({ vmId: "ab12", code: "firecracker-api", retryable: false });
    expect(e.message).toBe("vm ab12: Firecracker PUT /boot-source → 400: Cannot open kernel image: No such file");
  });
  it("falls back to the raw body when it is not Firecracker's JSON", () => {
    expect(apiFault("ab12", "PUT", "/x", 404, "not found").message).toBe("vm ab12: Firecracker PUT /x → 404: not found");
    expect(apiFault("ab12", "PUT", "/x", 500, "").message).toBe("vm ab12: Firecracker PUT /x → 500: (empty body)");
  });
});

describe("probe verdict", () => {
  const good: ProbeFacts = {
    arch: "amd64",
    hostArch: "amd64",
    firecracker: "/usr/bin/firecracker",
    jailer: "/usr/bin/jailer",
    cpuinfo: "flags\t\t: fpu vme vmx sse\n",
    kvm: true,
  };

  it("is ok with both binaries, a native arch, vmx/svm and /dev/kvm", () => {
    expect(probeVerdict(good)).toEqual({ ok: true, accel: "kvm" });
    expect(probeVerdict({ ...good, cpuinfo: "flags : svm\n" }).ok).toBe(true);
    expect(probeVerdict({ ...good, arch: "arm64", hostArch: "arm64", cpuinfo: "Features : fp asimd\n" }).ok).toBe(true);
  });

  it("says why not, one reason at a time", () => {
    expect(probeVerdict({ ...good, firecracker: undefined })).toMatchObject({ ok: false, reason: expect.stringMatching(/firecracker binary not found/) });
    expect(probeVerdict({ ...good, jailer: undefined })).toMatchObject({ ok: false, reason: expect.stringMatching(/jailer binary not found/) });
    expect(probeVerdict({ ...good, arch: "arm64" })).toMatchObject({ ok: false, reason: expect.stringMatching(/cannot emulate/) });
    // KVM-PVM: /dev/kvm exists, but no hardware virtualization flag.
    expect(probeVerdict({ ...good, cpuinfo: "flags : fpu vme sse\n", kvm: true })).toMatchObject({ ok: false, reason: expect.stringMatching(/no vmx\/svm/) });
    expect(probeVerdict({ ...good, kvm: false })).toMatchObject({ ok: false, reason: expect.stringMatching(/\/dev\/kvm/) });
  });
});
