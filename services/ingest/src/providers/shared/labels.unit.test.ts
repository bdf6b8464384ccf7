import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseLabels, type SizeDefaults } from "./labels.js";

const d: SizeDefaults = { vcpus: 2, memGiB: 4, arch: "amd64", maxVcpus: 32, maxMemGiB: 128 };

describe("runs-on labels → VM size and arch", () => {
  it.each([
    [["oneshot"], { arch: "amd64", vcpus: 2, memMiB: 4096, label: "oneshot" }],
    [["self-hosted", "oneshot-4cpu-8gb"], { arch: "amd64", vcpus: 4, memMiB: 8192, label: "oneshot-4cpu-8gb" }],
    [["ONESHOT-ARM64-2CPU-4GB"], { arch: "arm64", vcpus: 2, memMiB: 4096 }],
    [["oneshot", "oneshot-amd64-16cpu-32gb", "linux", "x64"], { arch: "amd64", vcpus: 16, memMiB: 32768 }],
    [["oneshot-arm64"], { arch: "arm64", vcpus: 2, memMiB: 4096, label: "oneshot-arm64" }],
    [["oneshot-arm64", "oneshot-4cpu-8gb"], { arch: "arm64", vcpus: 4, memMiB: 8192 }],
    // GitHub's arch label on a plain oneshot job: the runner must carry it, so the VM must be that arch.
    [["self-hosted", "arm64", "oneshot"], { arch: "arm64", vcpus: 2, memMiB: 4096 }],
    [["self-hosted", "ARM64", "oneshot-8cpu-16gb"], { arch: "arm64", vcpus: 8, memMiB: 16384 }],
    [[" oneshot-2cpu-4gb ", "oneshot-2cpu-4gb", "Oneshot-2CPU-4GB"], { vcpus: 2, memMiB: 4096 }],
    [["oneshot-02cpu-4gb", "oneshot-2cpu-04gb"], { vcpus: 2, memMiB: 4096 }],
    [["oneshot-32cpu-128gb"], { vcpus: 32, memMiB: 131072 }],
    [["oneshot", "gpu", "my-team-label"], { vcpus: 2 }],
    // The job's own network rate (hostd caps it at HOSTD_NET_MAX_RATE_MBIT).
    [["oneshot-2cpu-4gb", "NET-500MBIT"], { vcpus: 2, netMbit: 500 }],
  ])("%j", (labels, want) => {
    expect(parseLabels(labels, d)).toMatchObject({ ok: true, ...want });
  });

  it("is not ours without a oneshot label", () => {
    expect(parseLabels(["ubuntu-latest"], d)).toEqual({ ok: false, ours: false, reason: "no oneshot label" });
    expect(parseLabels(["self-hosted", "linux", "oneshotter", "x-oneshot"], d)).toMatchObject({ ok: false, ours: false });
    expect(parseLabels([], d)).toMatchObject({ ok: false, ours: false });
  });

  it.each([
    [["oneshot-2cpu-4gb", "oneshot-4cpu-8gb"], /conflicting size labels: oneshot-2cpu-4gb, oneshot-4cpu-8gb/],
    [["oneshot-arm64-2cpu-4gb", "oneshot-amd64-2cpu-4gb"], /conflicting size labels|conflicting arch labels/],
    [["oneshot-amd64-2cpu-4gb", "arm64"], /conflicting arch labels: oneshot-amd64-2cpu-4gb, arm64/],
    [["oneshot-arm64", "x64"], /conflicting arch labels/],
    [["oneshot-64cpu-8gb"], /64 vCPUs is above the cap of 32/],
    [["oneshot-2cpu-512gb"], /512 GiB is above the cap of 128/],
    [["oneshot-99999999999999999999cpu-1gb"], /999999999999… vCPUs is above the cap/],
    [["oneshot-huge"], /unknown oneshot label "oneshot-huge"/],
    [["oneshot-2cpu"], /unknown oneshot label/],
    [["oneshot-riscv64-2cpu-4gb"], /unknown oneshot label/],
    [["oneshot-0cpu-1gb"], /at least 1/],
    [["oneshot-1cpu-0gb"], /at least 1/],
    [["oneshot", "net-100mbit", "net-200mbit"], /conflicting net labels: net-100mbit, net-200mbit/],
    [["oneshot", "net-0mbit"], /at least 1 Mbit/],
  ])("refuses %j with the reason, as ours", (labels, reason) => {
    expect(parseLabels(labels, d)).toMatchObject({ ok: false, ours: true, reason: expect.stringMatching(reason) });
  });

  it("keeps reasons short whatever the label", () => {
    const v = parseLabels([`oneshot-${"x".repeat(5000)}`], d);
    expect(v.ok).toBe(false);
    expect(!v.ok && v.reason.length).toBeLessThan(200);
  });
});

describe("label parser properties", () => {
  const arch = fc.constantFrom("", "amd64-", "arm64-");
  const sized = fc.tuple(arch, fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 })).map(([a, c, m]) => `oneshot-${a}${c}cpu-${m}gb`);
  const label = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.constantFrom("oneshot", "self-hosted", "linux", "x64", "arm64", "oneshot-arm64", "oneshot-amd64", "gpu"),
    sized,
  );
  const labels = fc.array(label, { maxLength: 6 });
  const shuffled = <T>(xs: T[]) => fc.shuffledSubarray(xs, { minLength: xs.length, maxLength: xs.length });
  const essence = (v: ReturnType<typeof parseLabels>) => (v.ok ? { ok: true, arch: v.arch, vcpus: v.vcpus, memMiB: v.memMiB } : { ok: false, ours: v.ours });

  it("never throws; accepts only sizes within the caps, and only with a oneshot label", () => {
    fc.assert(
      fc.property(labels, (ls) => {
        const v = parseLabels(ls, d);
        if (v.ok) {
          expect(v.vcpus).toBeGreaterThanOrEqual(1);
          expect(v.vcpus).toBeLessThanOrEqual(d.maxVcpus);
          expect(v.memMiB).toBeGreaterThanOrEqual(1024);
          expect(v.memMiB).toBeLessThanOrEqual(d.maxMemGiB * 1024);
          expect(ls.some((l) => /^oneshot(-|$)/.test(l.trim().toLowerCase()))).toBe(true);
        } else {
          expect(v.reason.length).toBeGreaterThan(0);
          expect(v.ours).toBe(ls.some((l) => /^oneshot(-|$)/.test(l.trim().toLowerCase())));
        }
      }),
    );
  });

  it("does not depend on case, order, repeats or GitHub's neutral labels", () => {
    fc.assert(
      fc.property(
        labels.chain((ls) => fc.tuple(fc.constant(ls), shuffled(ls))),
        fc.boolean(),
        ([ls, perm], upper) => {
          const base = essence(parseLabels(ls, d));
          const variant = [...perm.map((l) => (upper ? l.toUpperCase() : l)), ...ls, "self-hosted", "linux"];
          expect(essence(parseLabels(variant, d))).toEqual(base);
        },
      ),
    );
  });

  it("gives exactly the size a well-formed label asks for", () => {
    fc.assert(
      fc.property(fc.constantFrom("amd64", "arm64", undefined), fc.integer({ min: 1, max: 32 }), fc.integer({ min: 1, max: 128 }), (a, c, m) => {
        const v = parseLabels(["self-hosted", `oneshot-${a ? `${a}-` : ""}${c}cpu-${m}gb`], d);
        expect(v).toMatchObject({ ok: true, arch: a ?? d.arch, vcpus: c, memMiB: m * 1024 });
      }),
    );
  });
});
