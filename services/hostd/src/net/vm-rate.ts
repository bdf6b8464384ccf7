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

/** The rate a VM gets: the job's request (`JobSpec.netMbit`, from a `net-<N>mbit` label) within the operator's cap, else the default (also capped). */
export function vmRate(policy: RatePolicy, requestedMbit?: number): VmRate {
  const cap = Math.min(policy.maxMbit, policy.totalMbit || Infinity);
  if (requestedMbit === undefined) return policy.defaultMbit > cap ? { mbit: cap, source: "capped" } : { mbit: policy.defaultMbit, source: "default" };
  return requestedMbit > cap ? { mbit: cap, source: "capped" } : { mbit: requestedMbit, source: "job" };
}
