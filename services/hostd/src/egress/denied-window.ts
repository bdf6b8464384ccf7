import type { EgressDestination, EgressQuery, VmEgressDenied } from "@oneshot/proto";

/** One element of nft's `denied` set: cumulative new-flow count for `vm → address:port/proto`. */
export interface DeniedSample {
  vm: string;
  address: string;
  protocol: "tcp" | "udp";
  port: number;
  packets: number;
}

/** Who a VM address belongs to, for the event: its ids, mode and policy source. */
export interface EgressOwner {
  vmId: string;
  hostId: string;
  jobId: string;
  mode: "open" | "allow" | "audit";
  source: string;
}

interface Dest {
  address: string;
  protocol: "tcp" | "udp";
  port: number;
  count: number;
  reason: EgressDestination["reason"];
  action: EgressDestination["action"];
}

interface Window {
  owner: EgressOwner;
  startMs: number;
  dests: Map<string, Dest>;
  queries: Map<string, EgressQuery>;
  /** Names the VM resolved through the proxy, per address (bounded), for the report's `names`. */
  names: Map<string, Set<string>>;
  lastReportMs?: number;
}

/** Per VM address: what was denied since its last report. Pure state, changed only by the functions below. */
export interface DeniedState {
  /** Last counter seen per nft element, to turn cumulative counters into what is new. */
  seen: Map<string, number>;
  windows: Map<string, Window>;
}

export const emptyDeniedState = (): DeniedState => ({ seen: new Map(), windows: new Map() });

export const MAX_DESTINATIONS = 64;
export const MAX_QUERIES = 64;
const MAX_NAMES_PER_VM = 512;

/** How a denied sample is classed (pure): forbidden (always dropped), DNS past the proxy, or outside the allow list. */
export function classify(
  s: { address: string; port: number },
  mode: EgressOwner["mode"],
  isForbidden: (address: string) => boolean,
  dnsProxy: boolean,
): Pick<Dest, "reason" | "action"> {
  if (isForbidden(s.address)) return { reason: "forbidden", action: "dropped" };
  if (dnsProxy && s.port === 53) return { reason: "dns", action: "dropped" };
  return { reason: "not-allowed", action: mode === "audit" ? "allowed" : "dropped" };
}

function windowOf(st: DeniedState, vm: string, owner: EgressOwner, nowMs: number): Window {
  let w = st.windows.get(vm);
  if (!w || w.owner.vmId !== owner.vmId) {
    // A new VM on the address: nothing of the last one's window carries over.
    w = { owner, startMs: nowMs, dests: new Map(), queries: new Map(), names: new Map() };
    st.windows.set(vm, w);
  }
  w.owner = owner;
  return w;
}

/**
 * Takes one poll of the denied set: what each counter grew by since the last poll goes into
 * its VM's window (a counter that shrank was reset: all of it is new). Samples of addresses
 * no VM owns are ignored; elements gone from the set are forgotten.
 */
export function noteSamples(
  st: DeniedState,
  samples: DeniedSample[],
  ownerOf: (vm: string) => EgressOwner | undefined,
  classOf: (s: DeniedSample, owner: EgressOwner) => Pick<Dest, "reason" | "action">,
  nowMs: number,
): void {
  const present = new Set<string>();
  for (const s of samples) {
    const key = `${s.vm}|${s.address}|${s.protocol}|${s.port}`;
    present.add(key);
    const before = st.seen.get(key) ?? 0;
    st.seen.set(key, s.packets);
    const delta = s.packets >= before ? s.packets - before : s.packets;
    const owner = ownerOf(s.vm);
    if (!delta || !owner) continue;
    const w = windowOf(st, s.vm, owner, nowMs);
    const dk = `${s.address}|${s.protocol}|${s.port}`;
    const d = w.dests.get(dk);
    if (d) d.count += delta;
    else w.dests.set(dk, { address: s.address, protocol: s.protocol, port: s.port, count: delta, ...classOf(s, owner) });
  }
  for (const k of st.seen.keys()) if (!present.has(k)) st.seen.delete(k);
}

/** A query the proxy refused, or let through in audit mode though the list would not have. */
export function noteQuery(st: DeniedState, vm: string, owner: EgressOwner, name: string, action: EgressQuery["action"], nowMs: number): void {
  const w = windowOf(st, vm, owner, nowMs);
  const q = w.queries.get(name);
  if (q) q.count++;
  else w.queries.set(name, { name, count: 1, action });
}

/** What a VM resolved through the proxy (for `names` in its report). Bounded per VM. */
export function noteResolved(st: DeniedState, vm: string, owner: EgressOwner, name: string, addresses: string[], nowMs: number): void {
  const w = windowOf(st, vm, owner, nowMs);
  for (const a of addresses) {
    if (!w.names.has(a) && w.names.size >= MAX_NAMES_PER_VM) continue;
    const set = w.names.get(a) ?? new Set<string>();
    if (set.size < 8) set.add(name);
    w.names.set(a, set);
  }
}

const hasNews = (w: Window) => w.dests.size > 0 || w.queries.size > 0;

function report(w: Window, nowMs: number): VmEgressDenied["data"] {
  const dests = [...w.dests.values()].sort((a, b) => b.count - a.count || a.address.localeCompare(b.address) || a.port - b.port);
  const queries = [...w.queries.values()].sort((a, b) => b.count - a.count || a.name.localeCompare(b.name));
  const { owner } = w;
  return {
    vmId: owner.vmId,
    hostId: owner.hostId,
    jobId: owner.jobId,
    mode: owner.mode,
    source: owner.source.slice(0, 128),
    windowStart: new Date(w.startMs).toISOString(),
    windowEnd: new Date(nowMs).toISOString(),
    destinations: dests.slice(0, MAX_DESTINATIONS).map((d) => ({ ...d, names: [...(w.names.get(d.address) ?? [])].slice(0, 8) })),
    queries: queries.slice(0, MAX_QUERIES),
    droppedDestinations: Math.max(0, dests.length - MAX_DESTINATIONS),
    droppedQueries: Math.max(0, queries.length - MAX_QUERIES),
  };
}

/**
 * The reports due now (pure but for mutating `st`): one per VM with something new, at most one
 * per VM per `intervalMs` (rate limit), and at once for a VM that is gone (`live` says which
 * addresses still have their VM: the last window of a destroyed VM is not held back). A reported
 * window starts again empty; a gone VM's window is dropped after its report.
 */
export function dueReports(st: DeniedState, nowMs: number, intervalMs: number, live: (vm: string, vmId: string) => boolean): VmEgressDenied["data"][] {
  const out: VmEgressDenied["data"][] = [];
  for (const [vm, w] of st.windows) {
    const alive = live(vm, w.owner.vmId);
    if (hasNews(w) && (!alive || w.lastReportMs === undefined || nowMs - w.lastReportMs >= intervalMs)) {
      out.push(report(w, nowMs));
      w.dests.clear();
      w.queries.clear();
      w.startMs = nowMs;
      w.lastReportMs = nowMs;
    }
    if (!alive) st.windows.delete(vm);
  }
  return out;
}
