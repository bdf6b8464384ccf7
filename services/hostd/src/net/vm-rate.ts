/**
 * Per-VM network rates (pure). One VM may not take the host's uplink: each direction of its
 * tap is capped at its rate, and all VMs of a bridge together at the total, so what the
 * host's own traffic (hostd ⇄ NATS: heartbeats, events, console output) needs is always
 * left over. Rates are in Mbit/s, as operators and NICs count.
 */
export interface RatePolicy {
  /** A VM's rate when its job asks for none. */
  defaultMbit: number;
  /** The most any job may ask for. */
  maxMbit: number;
  /** All VMs together; 0 = no shared cap. */
  totalMbit: number;
}

export interface VmRate {
  mbit: number;
  /** Why this rate: the default, the job's own, or the job's cut down to the operator's cap. */
  source: "default" | "job" | "capped";
}

/** The rate a VM gets: the job's request within the operator's cap, else the default (also capped). */
export function vmRate(policy: RatePolicy, requestedMbit?: number): VmRate {
  const cap = Math.min(policy.maxMbit, policy.totalMbit || Infinity);
  if (requestedMbit === undefined) return policy.defaultMbit > cap ? { mbit: cap, source: "capped" } : { mbit: policy.defaultMbit, source: "default" };
  return requestedMbit > cap ? { mbit: cap, source: "capped" } : { mbit: requestedMbit, source: "job" };
}

/** A job's own rate from its labels: `net-<N>mbit` (e.g. `net-500mbit`); the last one wins. */
export function requestedMbit(labels: readonly string[]): number | undefined {
  let got: number | undefined;
  for (const l of labels) {
    const m = /^net-(\d{1,6})mbit$/i.exec(l);
    if (m && Number(m[1]) > 0) got = Number(m[1]);
  }
  return got;
}
