import { describe, expect, it } from "vitest";
import { cgroupCheck, imagesCheck, networkCheck, nftCheck, qemuCheck } from "./host-checks.js";
import { kvmCheck, type KvmFacts } from "./kvm-check.js";
import { natsCheck, skewCheck } from "./nats-checks.js";
import { exitCodeOf, renderText } from "./verdict.js";

const intel = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr vmx sse2\n";
const nested = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr hypervisor sse2\n";
const kvm = (f: Partial<KvmFacts>): ReturnType<typeof kvmCheck> =>
  kvmCheck({ arch: "amd64", machineArch: "amd64", requested: "auto", cpuinfo: intel, devKvm: "rw", qemuKvm: { code: 0, stderr: "" }, haveImage: true, ...f });

describe("kvm", () => {
  it("is usable when the CPU has vmx, /dev/kvm opens and QEMU makes a KVM VM; hostd still probe-boots", () => {
    const f = kvm({});
    expect(f.verdict).toBe("ok");
    expect(f.detail).toMatch(/KVM usable.*probe boot/);
  });

  it("says TCG and every reason on a nested host without vmx/svm and without /dev/kvm (this test machine)", () => {
    const f = kvm({ cpuinfo: nested, devKvm: "missing" });
    expect(f.verdict).toBe("warn");
    expect(f.detail).toMatch(/^TCG: .*software emulation/);
    expect(f.detail).toContain("no vmx/svm flag");
    expect(f.detail).toContain("/dev/kvm missing");
    expect(f.fix).toMatch(/nested virtualization/);
  });

  it("KVM-PVM: /dev/kvm opens but the CPU has no vmx/svm: not hardware KVM", () => {
    const f = kvm({ cpuinfo: nested });
    expect(f.verdict).toBe("warn");
    expect(f.detail).toMatch(/not hardware KVM/);
  });

  it("names the module when the CPU could do it but /dev/kvm is missing", () => {
    expect(kvm({ devKvm: "missing" }).fix).toMatch(/modprobe kvm_intel/);
  });

  it("names the permission when /dev/kvm exists but does not open read-write", () => {
    const f = kvm({ devKvm: "no-access" });
    expect(f.detail).toContain("cannot open it read-write");
    expect(f.fix).toMatch(/group .*kvm/);
  });

  it("quotes QEMU's own error when KVM_CREATE_VM fails", () => {
    const f = kvm({
      qemuKvm: {
        code: 1,
        stderr: "Could not access KVM kernel module: Permission denied\nqemu-system-x86_64: -accel kvm: failed to initialize kvm: Permission denied\n",
      },
    });
    expect(f.verdict).toBe("warn");
    expect(f.detail).toContain("failed to initialize kvm: Permission denied");
    expect(f.fix).toMatch(/KVM_CREATE_VM/);
  });

  it("fails when HOSTD_ACCEL=kvm asks for KVM that does not work: hostd would refuse to start", () => {
    const f = kvm({ requested: "kvm", devKvm: "missing" });
    expect(f.verdict).toBe("fail");
    expect(f.detail).toMatch(/HOSTD_ACCEL=kvm/);
  });

  it("an emulated arch runs under TCG only", () => {
    const f = kvm({ arch: "arm64" });
    expect(f.verdict).toBe("warn");
    expect(f.detail).toMatch(/emulating arm64 on a amd64 machine/);
  });

  it("HOSTD_ACCEL=tcg on a KVM host says KVM would work", () => {
    const f = kvm({ requested: "tcg" });
    expect(f.detail).toMatch(/KVM would work here/);
    expect(f.fix).toBe("unset HOSTD_ACCEL to use KVM");
  });

  it("no image to probe with: TCG until one is built", () => {
    expect(kvm({ haveImage: false }).fix).toMatch(/build-minimal/);
  });
});

describe("images and qemu per arch", () => {
  it("fails without an image for the arch this host offers; the other arch is optional", () => {
    const [amd, arm] = imagesCheck({ dir: "/x", target: "amd64", found: { amd64: [], arm64: [] } });
    expect(amd).toMatchObject({ check: "images.amd64", verdict: "fail", fix: expect.stringMatching(/build-minimal.sh amd64/) });
    expect(arm).toMatchObject({ check: "images.arm64", verdict: "ok", detail: expect.stringMatching(/needed only/) });
  });

  it("lists the images found", () => {
    expect(imagesCheck({ dir: "/x", target: "arm64", found: { amd64: ["minimal", "full"], arm64: ["minimal"] } }).map((f) => f.verdict)).toEqual(["ok", "ok"]);
  });

  it("fails without the target arch's QEMU and names the package", () => {
    const [amd, arm] = qemuCheck({
      target: "arm64",
      versions: {
        amd64: { bin: "qemu-system-x86_64", code: 0, out: "QEMU emulator version 7.2\nCopyright" },
        arm64: { bin: "qemu-system-aarch64", code: 127, out: "spawn qemu-system-aarch64 ENOENT" },
      },
    });
    expect(amd).toMatchObject({ verdict: "ok", detail: "QEMU emulator version 7.2" });
    expect(arm).toMatchObject({ verdict: "fail", fix: "apt-get install qemu-system-arm" });
  });
});

describe("nftables, taps, bridge, cgroup", () => {
  it("nft: missing, not root, usable", () => {
    expect(nftCheck({ code: 127, stderr: "", root: true, hostdTables: [] })).toMatchObject({ verdict: "fail", fix: "apt-get install nftables" });
    expect(nftCheck({ code: 1, stderr: "Operation not permitted (you must be root)\n", root: false, hostdTables: [] })).toMatchObject({
      verdict: "fail",
      fix: expect.stringMatching(/root/),
    });
    expect(nftCheck({ code: 0, stderr: "", root: true, hostdTables: ["inet oneshot"] }).detail).toContain("inet oneshot");
  });

  it("taps and bridge: what could not be made, and the state of hostd's bridge", () => {
    const good = { code: 0, stderr: "" };
    const [t1, b1] = networkCheck({ bridge: "osbr0", bridgeState: "absent", tun: true, tapTry: good, bridgeTry: good });
    expect([t1!.verdict, b1!.verdict]).toEqual(["ok", "ok"]);
    expect(b1!.detail).toMatch(/hostd creates it/);
    const [t2, b2] = networkCheck({
      bridge: "osbr0",
      bridgeState: "up",
      tun: false,
      tapTry: good,
      bridgeTry: { code: 2, stderr: "RTNETLINK answers: Operation not permitted\n" },
    });
    expect(t2).toMatchObject({ verdict: "fail", fix: "modprobe tun" });
    expect(b2).toMatchObject({ verdict: "fail", detail: expect.stringContaining("Operation not permitted") });
    expect(networkCheck({ bridge: "eth0", bridgeState: "not-a-bridge", tun: true, tapTry: good, bridgeTry: good })[1]!.verdict).toBe("fail");
    expect(networkCheck({ bridge: "osbr0", bridgeState: "down", tun: true, tapTry: good, bridgeTry: good })[1]!.verdict).toBe("warn");
  });

  it("cgroup v2 without cpu/memory is a warning under auto and a failure under required", () => {
    const hybrid = { mount: "/sys/fs/cgroup/unified", controllers: ["pids"] };
    expect(cgroupCheck({ ...hybrid, policy: "auto" })).toMatchObject({ verdict: "warn", detail: expect.stringMatching(/no cpu\/memory controller/) });
    expect(cgroupCheck({ ...hybrid, policy: "required" }).verdict).toBe("fail");
    expect(cgroupCheck({ mount: undefined, controllers: [], policy: "auto" }).detail).toMatch(/no cgroup2/);
    expect(cgroupCheck({ mount: "/sys/fs/cgroup", controllers: ["cpu", "io", "memory"], policy: "auto" }).verdict).toBe("ok");
  });
});

describe("nats and clock", () => {
  const base = { url: "tls://nats.example:4222", user: "hostd-metal-01", caFile: "/etc/oneshot/nats/ca.pem", auth: "nkey" as const };
  it("ok over verified TLS with an NKey", () => {
    const f = natsCheck({ ...base, reach: { ok: true, server: "n1 2.10.4 at nats.example:4222", tlsRequired: true } });
    expect(f.verdict).toBe("ok");
    expect(f.detail).toMatch(/over TLS .*NATS_CA_FILE.*NKey/);
  });

  it("unreachable: a failure whose fix follows the cause", () => {
    const refused = natsCheck({ ...base, reach: { ok: false, error: "connection refused" } });
    expect(refused).toMatchObject({
      verdict: "fail",
      detail: expect.stringContaining("cannot reach NATS at tls://nats.example:4222 as hostd-metal-01: connection refused"),
    });
    expect(refused.fix).toMatch(/start nats-server/);
    expect(natsCheck({ ...base, reach: { ok: false, error: "self-signed certificate in certificate chain" } }).fix).toMatch(/NATS_CA_FILE must be the CA/);
    expect(natsCheck({ ...base, reach: { ok: false, error: "Authorization Violation" } }).fix).toMatch(/NATS_NKEY_FILE must be a pair/);
  });

  it("plaintext or anonymous is a warning", () => {
    expect(natsCheck({ ...base, url: "nats://x:4222", reach: { ok: true, server: "x", tlsRequired: false } }).verdict).toBe("warn");
    expect(natsCheck({ ...base, auth: "none", reach: { ok: true, server: "x", tlsRequired: true } }).verdict).toBe("warn");
  });

  it("clock: within a second is fine, seconds off a warning, half a minute a failure", () => {
    expect(skewCheck({ measured: true, skewMs: 40, uncertaintyMs: 2, how: "h" }).verdict).toBe("ok");
    const w = skewCheck({ measured: true, skewMs: -3_200, uncertaintyMs: 2, how: "h" });
    expect(w).toMatchObject({ verdict: "warn", detail: expect.stringMatching(/3\.200 s behind/) });
    expect(skewCheck({ measured: true, skewMs: 3_600_000, uncertaintyMs: 1, how: "h" })).toMatchObject({
      verdict: "fail",
      fix: expect.stringMatching(/chrony|timesyncd/),
    });
    // A skew inside the measurement's uncertainty is not reported as skew.
    expect(skewCheck({ measured: true, skewMs: 1_400, uncertaintyMs: 500, how: "h" }).verdict).toBe("ok");
    expect(skewCheck({ measured: false, why: "no consumer" }).verdict).toBe("warn");
  });
});

describe("verdicts", () => {
  it("exit code is 1 only when a check failed; the text shows each fix under its check", () => {
    const findings = [
      kvm({ cpuinfo: nested, devKvm: "missing" }),
      natsCheck({ ...{ url: "tls://x", auth: "nkey" as const }, reach: { ok: false, error: "connection refused" } }),
    ];
    expect(exitCodeOf(findings.slice(0, 1))).toBe(0);
    expect(exitCodeOf(findings)).toBe(1);
    const text = renderText(findings);
    expect(text).toMatch(/^WARN kvm +TCG/m);
    expect(text).toMatch(/^FAIL nats +cannot reach NATS/m);
    expect(text).toMatch(/^ +fix: nothing listens there/m);
    expect(text.trim().split("\n").at(-1)).toBe("0 ok, 1 warnings, 1 failed");
  });
});
