import type { Arch } from "@oneshot/proto";

export interface SizeDefaults {
  /** Size of a job labelled plain `oneshot` (or `oneshot-<arch>`). */
  vcpus: number;
  memGiB: number;
  /** Arch when no label names one. */
  arch: Arch;
  /** Largest size a label may ask for. */
  maxVcpus: number;
  maxMemGiB: number;
}

export type LabelVerdict =
  | {
      ok: true;
      arch: Arch;
      vcpus: number;
      memMiB: number;
      /** The label that set the size (`oneshot` for the default). */ label: string;
      /** A `net-<N>mbit` label: the network rate the job asks for (hostd caps it). */
      netMbit?: number;
    }
  /** `ours: false`: no oneshot label at all, the job is for someone else's runners. */
  | { ok: false; ours: boolean; reason: string };

/**
 * GitHub's default runner labels that name an arch. A runner must carry every `runs-on` label,
 * and ours carries the job's labels, so `[self-hosted, arm64, oneshot]` must boot arm64.
 * `self-hosted` and `linux` say nothing.
 */
const ARCH_HINT: ReadonlyMap<string, Arch> = new Map([
  ["x64", "amd64"],
  ["amd64", "amd64"],
  ["x86_64", "amd64"],
  ["arm64", "arm64"],
  ["aarch64", "arm64"],
]);

/** `oneshot`, `oneshot-<arch>`, `oneshot-<N>cpu-<M>gb`, `oneshot-<arch>-<N>cpu-<M>gb`. */
const ONESHOT = /^oneshot(?:-(amd64|arm64))?(?:-(\d+)cpu-(\d+)gb)?$/;

interface Parsed {
  label: string;
  arch?: Arch;
  size?: { vcpus: string; memGiB: string };
}

/** `net-<N>mbit`: the job's own network rate, Mbit/s each way. */
const NET = /^net-(\d{1,7})mbit$/;

/** Shown in reasons: labels come from webhooks, keep them short. */
const show = (s: string) => JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);

/**
 * `runs-on` labels (GitHub) or job tags (GitLab) → the VM to boot. Pure.
 *
 * Labels are trimmed and lowercased. Every `oneshot…` label must parse; they must agree on one
 * size and, with GitHub's arch labels, on one arch; the size must be within the caps. A job
 * with no `oneshot…` label is not ours.
 */
export function parseLabels(labels: readonly string[], d: SizeDefaults): LabelVerdict {
  const lower = [...new Set(labels.map((l) => l.trim().toLowerCase()))];
  const mine = lower.filter((l) => l === "oneshot" || l.startsWith("oneshot-"));
  if (mine.length === 0) return { ok: false, ours: false, reason: "no oneshot label" };

  const parsed: Parsed[] = [];
  for (const label of mine) {
    const m = ONESHOT.exec(label);
    if (!m)
      return {
        ok: false,
        ours: true,
        reason: `unknown oneshot label ${show(label)} (want oneshot, oneshot-<N>cpu-<M>gb or oneshot-<amd64|arm64>-<N>cpu-<M>gb)`,
      };
    parsed.push({ label, ...(m[1] ? { arch: m[1] as Arch } : {}), ...(m[2] && m[3] ? { size: { vcpus: m[2], memGiB: m[3] } } : {}) });
  }

  const sized = parsed.filter((p) => p.size);
  const sizes = new Set(sized.map((p) => `${Number(p.size!.vcpus)}/${Number(p.size!.memGiB)}`));
  if (sizes.size > 1) return { ok: false, ours: true, reason: `conflicting size labels: ${sized.map((p) => p.label).join(", ")}` };

  const archSources = [
    ...parsed.filter((p) => p.arch).map((p) => [p.label, p.arch!] as const),
    ...lower.filter((l) => ARCH_HINT.has(l)).map((l) => [l, ARCH_HINT.get(l)!] as const),
  ];
  const archs = new Set(archSources.map(([, a]) => a));
  if (archs.size > 1) return { ok: false, ours: true, reason: `conflicting arch labels: ${archSources.map(([l]) => l).join(", ")}` };
  const arch = archSources[0]?.[1] ?? d.arch;

  const nets = [...new Set(lower.flatMap((l) => NET.exec(l)?.[1] ?? []).map(Number))];
  if (nets.length > 1) return { ok: false, ours: true, reason: `conflicting net labels: ${nets.map((m) => `net-${m}mbit`).join(", ")}` };
  if (nets[0] === 0) return { ok: false, ours: true, reason: "label net-0mbit: the rate must be at least 1 Mbit/s" };
  const net = nets.length ? { netMbit: nets[0]! } : {};

  const size = sized[0];
  const label = size?.label ?? parsed.find((p) => p.arch)?.label ?? "oneshot";
  if (!size) return { ok: true, arch, vcpus: d.vcpus, memMiB: d.memGiB * 1024, label, ...net };
  // Compare as numbers, but never print a thousand digits back.
  const vcpus = Number(size.size!.vcpus);
  const memGiB = Number(size.size!.memGiB);
  const n = (digits: string) => (digits.length > 12 ? `${digits.slice(0, 12)}…` : String(Number(digits)));
  if (vcpus < 1 || memGiB < 1) return { ok: false, ours: true, reason: `label ${show(label)}: vCPUs and GiB must be at least 1` };
  if (vcpus > d.maxVcpus) return { ok: false, ours: true, reason: `label ${show(label)}: ${n(size.size!.vcpus)} vCPUs is above the cap of ${d.maxVcpus}` };
  if (memGiB > d.maxMemGiB) return { ok: false, ours: true, reason: `label ${show(label)}: ${n(size.size!.memGiB)} GiB is above the cap of ${d.maxMemGiB}` };
  return { ok: true, arch, vcpus, memMiB: memGiB * 1024, label, ...net };
}
