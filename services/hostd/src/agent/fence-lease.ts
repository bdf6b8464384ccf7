/**
 * hostd's side of the fence contract (docs/fencing.md): the host may run VMs only while its
 * lease is current, and the lease is renewed by a heartbeat JetStream acknowledged. A renewal
 * counts from when that heartbeat was *sent* (the ack proves it was stored after then), on
 * this process's monotonic clock: a frozen, partitioned or wall-clock-stepped host never
 * believes it is fresher than it is. Pure: times are inputs.
 */
export interface FenceLease {
  /** Lease length (HOSTD_FENCE_AFTER, ms). */
  readonly leaseMs: number;
  /** Monotonic time of the send of the last acknowledged heartbeat; the start counts as one. */
  readonly renewedAt: number;
  /** Set when a fence for this outage was started: one fence per lapse, re-armed by a renewal. */
  readonly fencedAt: number | undefined;
}

export const newLease = (leaseMs: number, now: number): FenceLease => ({ leaseMs, renewedAt: now, fencedAt: undefined });

/** A heartbeat sent at `sentAt` was acknowledged: later than what we had, it renews (and re-arms). */
export const renew = (l: FenceLease, sentAt: number): FenceLease =>
  sentAt <= l.renewedAt ? l : { ...l, renewedAt: sentAt, fencedAt: l.fencedAt !== undefined && sentAt > l.fencedAt ? undefined : l.fencedAt };

/** Time left before the host must have stopped its VMs (≤ 0: it must now). */
export const remainingMs = (l: FenceLease, now: number): number => l.renewedAt + l.leaseMs - now;

/** Whether a fence must start now: the lease ran out and no fence was started for this lapse. */
export const mustFence = (l: FenceLease, now: number): boolean => l.fencedAt === undefined && remainingMs(l, now) <= 0;

export const fenced = (l: FenceLease, now: number): FenceLease => ({ ...l, fencedAt: now });
