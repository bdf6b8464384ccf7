/**
 * The uid/gid pool: VM slot n (1-based) runs as base+n. Two VMs on one machine must never
 * share a uid, so the driver picks the lowest slot that neither it nor another hostd uses.
 * `base` 0 means no pool: every VM runs as root inside the jail (tests, dev only).
 */
export interface UidPool {
  base: number;
  size: number;
}

/** The lowest free slot in 1..size, or undefined when the pool is exhausted (pure). */
export function pickSlot(taken: ReadonlySet<number>, size: number): number | undefined {
  for (let slot = 1; slot <= size; slot++) if (!taken.has(slot)) return slot;
  return undefined;
}

/** The uid and gid of a slot (pure). */
export function slotOwner(pool: UidPool, slot: number): { uid: number; gid: number } {
  if (pool.base <= 0) return { uid: 0, gid: 0 };
  return { uid: pool.base + slot, gid: pool.base + slot };
}

/** The slot a uid belongs to, or undefined when it is outside the pool (pure). */
export function slotOfUid(pool: UidPool, uid: number): number | undefined {
  const slot = uid - pool.base;
  return pool.base > 0 && slot >= 1 && slot <= pool.size ? slot : undefined;
}
