import type { Arch } from "@oneshot/proto";

export interface SizeDefaults {
  vcpus: number;
  memGiB: number;
  arch: Arch;
  maxVcpus: number;
  maxMemGiB: number;
}

export type LabelVerdict =
  | { ok: true; arch: Arch; vcpus: number; memMiB: number; label: string }
  | { ok: false; reason: string; ours: boolean };

/** GitHub's default runner labels: they say nothing about the VM size. */
const NEUTRAL = new Set(["self-hosted", "linux", "x64", "arm64", "amd64", "x86_64", "aarch64"]);
const SIZED = /^oneshot(?:-(amd64|arm64))?-(\d{1,4})cpu-(\d{1,5})gb$/;
const ARCH_ONLY = /^oneshot-(amd64|arm64)$/;

/**
 * `runs-on` labels → the VM to boot. Lowercased first; `oneshot` (default size),
 * `oneshot-<N>cpu-<M>gb`, `oneshot-<arch>-<N>cpu-<M>gb`, `oneshot-<arch>`. Two different
 * oneshot labels conflict; sizes above the caps are refused. `ours: false` means the job
 * is not for oneshot at all (no oneshot label).
 */
export function parseLabels(labels: readonly string[], d: SizeDefaults): LabelVerdict {
  const lower = [...new Set(labels.map((l) => l.trim().toLowerCase()))];
  const mine = lower.filter((l) => l === "oneshot" || l.startsWith("oneshot-"));
  if (mine.length === 0) return { ok: false, ours: false, reason: "no oneshot label" };
  const sized = mine.filter((l) => l !== "oneshot");
  if (sized.length > 1) return { ok: false, ours: true, reason: `conflicting oneshot labels: ${sized.join(", ")}` };
  const unknown = lower.filter((l) => !NEUTRAL.has(l) && !mine.includes(l));
  // Other custom labels are allowed (GitHub matches them); they do not change the size.
  void unknown;
  const label = sized[0] ?? "oneshot";
  let arch: Arch = d.arch;
  let vcpus = d.vcpus;
  let memGiB = d.memGiB;
  if (label !== "oneshot") {
    const m = SIZED.exec(label);
    const a = ARCH_ONLY.exec(label);
    if (m) {
      arch = (m[1] as Arch | undefined) ?? d.arch;
      vcpus = Number(m[2]);
      memGiB = Number(m[3]);
    } else if (a) {
      arch = a[1] as Arch;
    } else {
      return { ok: false, ours: true, reason: `unknown oneshot label ${JSON.stringify(label)} (want oneshot-<N>cpu-<M>gb or oneshot-<arch>-<N>cpu-<M>gb)` };
    }
  }
  if (lower.includes("arm64") && arch !== "arm64" && label === "oneshot") arch = "arm64";
  if (vcpus < 1 || memGiB < 1) return { ok: false, ours: true, reason: `label ${label}: sizes must be at least 1` };
  if (vcpus > d.maxVcpus) return { ok: false, ours: true, reason: `label ${label}: ${vcpus} vCPUs is above the cap of ${d.maxVcpus}` };
  if (memGiB > d.maxMemGiB) return { ok: false, ours: true, reason: `label ${label}: ${memGiB} GiB is above the cap of ${d.maxMemGiB}` };
  return { ok: true, arch, vcpus, memMiB: memGiB * 1024, label };
}
