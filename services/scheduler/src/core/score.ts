/**
 * How good a host is for a job: higher is better. Best fit, after Nomad's BestFit v3
 * (`20 − (10^freeCpu + 10^freeMem)`), extended to disk:
 *
 *     score = −(10^freeCpu + 10^freeMem + 10^freeDisk)
 *
 * where each `free*` is the fraction of that host's capacity left free *after* placing the
 * job (0 = full, 1 = empty).
 *
 * Why best fit: jobs go to the host they fill the most, so hosts fill up one after another
 * and whole hosts stay empty, ready for the next 16-vCPU job (and for an operator to drain).
 * Spreading (worst fit) would leave every host half full, and a big job nowhere to go.
 *
 * Why 10^x rather than a plain sum or the dominant leftover: the exponential is convex, so
 * for the same total leftover it prefers hosts whose resources stay *balanced*. A host left
 * with no vCPU but 60% of its RAM has stranded that RAM (no job can use it); a linear sum
 * scores it like a host with 30% of each, which can still take jobs. 10^x scores the stranded
 * case worse (10^0 + 10^0.6 ≈ 5.0 against 2 × 10^0.3 ≈ 4.0) and still prefers tight hosts to
 * empty ones (an empty host costs 30, a nearly full one ≈ 3). Only the dominant leftover
 * would ignore the other resources entirely.
 *
 * Fractions are of each host's own capacity, so mixed host sizes compare fairly.
 */
export function bestFitScore(freeAfterV: number, capV: number, freeAfterM: number, capM: number, freeAfterD: number, capD: number): number {
  return -(10 ** (freeAfterV / capV) + 10 ** (freeAfterM / capM) + 10 ** (freeAfterD / capD));
}
