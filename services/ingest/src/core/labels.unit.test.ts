import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseLabels, type SizeDefaults } from "./labels.js";

const d: SizeDefaults = { vcpus: 2, memGiB: 4, arch: "amd64", maxVcpus: 32, maxMemGiB: 128 };

describe("runs-on labels → VM size", () => {
  it.each([
    [["oneshot"], { arch: "amd64", vcpus: 2, memMiB: 4096 }],
    [["self-hosted", "oneshot-4cpu-8gb"], { arch: "amd64", vcpus: 4, memMiB: 8192 }],
    [["ONESHOT-ARM64-2CPU-4GB"], { arch: "arm64", vcpus: 2, memMiB: 4096 }],
    [["oneshot", "oneshot-amd64-16cpu-32gb", "linux", "x64"], { arch: "amd64", vcpus: 16, memMiB: 32768 }],
    [["oneshot-arm64"], { arch: "arm64", vcpus: 2, memMiB: 4096 }],
    [["self-hosted", "arm64", "oneshot"], { arch: "arm64", vcpus: 2, memMiB: 4096 }],
  ])("%j", (labels, want) => {
    expect(parseLabels(labels, d)).toMatchObject({ ok: true, ...want });
  });

  it("is not ours without a oneshot label", () => {
    expect(parseLabels(["ubuntu-latest"], d)).toEqual({ ok: false, ours: false, reason: "no oneshot label" });
    expect(parseLabels(["self-hosted", "linux"], d)).toMatchObject({ ok: false, ours: false });
  });

  it("refuses conflicting sizes, sizes over the caps and unknown oneshot labels, with the reason", () => {
    expect(parseLabels(["oneshot-2cpu-4gb", "oneshot-4cpu-8gb"], d)).toMatchObject({ ok: false, ours: true, reason: /conflicting/ });
    expect(parseLabels(["oneshot-64cpu-8gb"], d)).toMatchObject({ ok: false, reason: /64 vCPUs is above the cap of 32/ });
    expect(parseLabels(["oneshot-2cpu-512gb"], d)).toMatchObject({ ok: false, reason: /512 GiB is above the cap/ });
    expect(parseLabels(["oneshot-huge"], d)).toMatchObject({ ok: false, ours: true, reason: /unknown oneshot label/ });
    expect(parseLabels(["oneshot-0cpu-1gb"], d)).toMatchObject({ ok: false, reason: /at least 1/ });
  });

  it("never throws and only ever accepts sizes within the caps (property)", () => {
    const label = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.constantFrom("oneshot", "self-hosted", "linux", "x64", "arm64"),
      fc.tuple(fc.constantFrom("", "amd64-", "arm64-", "ARM64-"), fc.nat(100), fc.nat(300)).map(([a, c, m]) => `oneshot-${a}${c}cpu-${m}gb`),
    );
    fc.assert(
      fc.property(fc.array(label, { maxLength: 6 }), (labels) => {
        const v = parseLabels(labels, d);
        if (v.ok) {
          expect(v.vcpus).toBeGreaterThanOrEqual(1);
          expect(v.vcpus).toBeLessThanOrEqual(d.maxVcpus);
          expect(v.memMiB).toBeLessThanOrEqual(d.maxMemGiB * 1024);
          expect(labels.some((l) => l.toLowerCase().startsWith("oneshot"))).toBe(true);
        } else {
          expect(v.reason.length).toBeGreaterThan(0);
        }
      }),
    );
  });
});
