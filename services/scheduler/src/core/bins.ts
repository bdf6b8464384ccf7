import type { Arch, Resources } from "@oneshot/proto";
import { hasLabels } from "./host-labels.js";
import { isPlaceable, type HostView } from "./state.js";

/** One host's room during a decision: a scratch copy, never the state itself. */
interface Bin {
  hostId: string;
  labels: string[];
  images: string[];
  capV: number;
  capM: number;
  capD: number;
  freeV: number;
  freeM: number;
  freeD: number;
  /** 10^(free/capacity) per resource: the best-fit score's terms before this job (see score.ts); -1 until needed. */
  pV: number;
  pM: number;
  pD: number;
  /** Index in `open`, or -1. */
  at: number;
}

/** Empty hosts of one shape (arch, capacity, labels, images) score the same: only the first registered is tried. */
interface EmptyShape {
  labels: string[];
  images: string[];
  bins: Bin[];
  next: number;
}

interface ArchBins {
  /** Hosts with work on them and some room left. */
  open: Bin[];
  empty: EmptyShape[];
  /** No host of this arch has more free than this (an upper bound, tightened when a job fits nowhere). */
  ceilV: number;
  ceilM: number;
  ceilD: number;
}

/**
 * The free capacity of the placeable hosts, and best-fit placement into it. Built from the
 * state for one decision; `take` reserves on the scratch copy only.
 */
export class Bins {
  private readonly arch = new Map<Arch, ArchBins>();
  /** Hosts that were empty and got work during this decision. */
  opened = 0;

  /** Built per arch on first use: a decision about one arm64 job never looks at amd64 hosts. */
  constructor(private readonly hosts: readonly HostView[]) {}

  private archBins(arch: Arch): ArchBins {
    let a = this.arch.get(arch);
    if (a) return a;
    a = { open: [], empty: [], ceilV: 0, ceilM: 0, ceilD: 0 };
    this.arch.set(arch, a);
    const shapes = new Map<string, EmptyShape>();
    for (const h of this.hosts) {
      if (h.arch !== arch || !isPlaceable(h)) continue;
      const b: Bin = {
        hostId: h.hostId,
        labels: h.labels,
        images: h.images,
        capV: h.capacity.vcpus,
        capM: h.capacity.memMiB,
        capD: h.capacity.diskGiB,
        freeV: h.capacity.vcpus - h.used.vcpus,
        freeM: h.capacity.memMiB - h.used.memMiB,
        freeD: h.capacity.diskGiB - h.used.diskGiB,
        pV: -1,
        pM: -1,
        pD: -1,
        at: -1,
      };
      if (b.freeV <= 0 || b.freeM <= 0 || b.freeD <= 0) continue;
      a.ceilV = Math.max(a.ceilV, b.freeV);
      a.ceilM = Math.max(a.ceilM, b.freeM);
      a.ceilD = Math.max(a.ceilD, b.freeD);
      if (h.used.vcpus === 0 && h.used.memMiB === 0 && h.used.diskGiB === 0) {
        const key = `${b.capV}|${b.capM}|${b.capD}|${h.labels.join(",")}|${h.images.join(",")}`;
        let shape = shapes.get(key);
        if (!shape) {
          shapes.set(key, (shape = { labels: h.labels, images: h.images, bins: [], next: 0 }));
          a.empty.push(shape);
        }
        shape.bins.push(b);
      } else {
        b.at = a.open.length;
        a.open.push(b);
      }
    }
    return a;
  }

  /** The best-fit host for `demand`, its room reserved here; undefined when none has room now. */
  take(arch: Arch, labels: readonly string[], demand: Resources, image: string): string | undefined {
    const a = this.archBins(arch);
    const { vcpus: v, memMiB: m, diskGiB: d } = demand;
    if (v > a.ceilV || m > a.ceilM || d > a.ceilD) return undefined;
    let best: Bin | undefined;
    let bestScore = -Infinity;
    let bestShape: EmptyShape | undefined;
    let maxV = 0,
      maxM = 0,
      maxD = 0;
    // bestFitScore factored: 10^((free − demand)/cap) = 10^(free/cap) · 10^(−demand/cap). The
    // first factor is kept per host, the second depends on the host's capacity only, and hosts
    // mostly share a few sizes: a multiply instead of three powers per host and job.
    const k = new Factors(v, m, d);
    const consider = (b: Bin, shape: EmptyShape | undefined, labelled: boolean) => {
      if (b.freeV > maxV) maxV = b.freeV;
      if (b.freeM > maxM) maxM = b.freeM;
      if (b.freeD > maxD) maxD = b.freeD;
      if (v > b.freeV || m > b.freeM || d > b.freeD || !labelled) return;
      if (b.pV < 0) powers(b);
      const score = -(b.pV * k.v(b.capV) + b.pM * k.m(b.capM) + b.pD * k.d(b.capD));
      if (score > bestScore || (score === bestScore && best && b.hostId < best.hostId)) {
        best = b;
        bestScore = score;
        bestShape = shape;
      }
    };
    for (const b of a.open) consider(b, undefined, hasLabels(b.labels, labels) && b.images.includes(image));
    for (const s of a.empty) {
      const b = s.bins[s.next];
      if (b) consider(b, s, hasLabels(s.labels, labels) && s.images.includes(image));
    }
    const chosen = best as Bin | undefined;
    if (!chosen) {
      a.ceilV = maxV;
      a.ceilM = maxM;
      a.ceilD = maxD;
      return undefined;
    }
    chosen.freeV -= v;
    chosen.freeM -= m;
    chosen.freeD -= d;
    powers(chosen);
    if (bestShape) {
      bestShape.next++;
      this.opened++;
      chosen.at = a.open.length;
      a.open.push(chosen);
    }
    // No job asks for zero of anything: a host out of one resource takes nothing more.
    if (chosen.freeV <= 0 || chosen.freeM <= 0 || chosen.freeD <= 0) this.close(a, chosen);
    return chosen.hostId;
  }

  private close(a: ArchBins, b: Bin): void {
    const last = a.open.pop()!;
    if (last !== b) {
      a.open[b.at] = last;
      last.at = b.at;
    }
    b.at = -1;
  }
}

function powers(b: Bin): void {
  b.pV = 10 ** (b.freeV / b.capV);
  b.pM = 10 ** (b.freeM / b.capM);
  b.pD = 10 ** (b.freeD / b.capD);
}

/** 10^(−demand/capacity) per resource, remembered for the last capacity seen. */
class Factors {
  private cv = -1;
  private fv = 0;
  private cm = -1;
  private fm = 0;
  private cd = -1;
  private fd = 0;
  constructor(
    private readonly dv: number,
    private readonly dm: number,
    private readonly dd: number,
  ) {}
  v(cap: number): number {
    if (cap !== this.cv) {
      this.cv = cap;
      this.fv = 10 ** (-this.dv / cap);
    }
    return this.fv;
  }
  m(cap: number): number {
    if (cap !== this.cm) {
      this.cm = cap;
      this.fm = 10 ** (-this.dm / cap);
    }
    return this.fm;
  }
  d(cap: number): number {
    if (cap !== this.cd) {
      this.cd = cap;
      this.fd = 10 ** (-this.dd / cap);
    }
    return this.fd;
  }
}
