import { randomBytes } from "node:crypto";

/**
 * Names unique to one test run, so test files running in parallel (and a dev stack) never
 * share a bridge, subnet, host id or state dir: a 4-char suffix and a /24 picked at random
 * from 10.2xx.0.0/16 (checked against the machine's routes by the caller's hostd).
 */
export function testNames(prefix: string): { suffix: string; bridge: string; subnet: string; hostId: string } {
  const suffix = randomBytes(3).toString("hex").slice(0, 4);
  const second = 200 + (randomBytes(1)[0]! % 50);
  const third = randomBytes(1)[0]!;
  return { suffix, bridge: `${prefix}${suffix}`.slice(0, 15), subnet: `10.${second}.${third}.0/24`, hostId: `test-${prefix}-${suffix}` };
}
