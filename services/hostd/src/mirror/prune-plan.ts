/** A blob in the mirror's storage: its data file, what it takes on disk, and when it was last used. */
export interface StoredBlob {
  /** Its data file (one per mirror directory: two mirrors may hold the same digest). */
  path: string;
  digest: string;
  /** Allocated bytes of its data file. */
  bytes: number;
  /** max(atime, mtime), ms: written, or last served (the mirror sets atime when the access log shows a GET). */
  lastUsedMs: number;
}

export interface PrunePlan {
  evict: StoredBlob[];
  /** What the cache takes once those are removed. */
  bytesAfter: number;
}

/**
 * Which blobs to remove so the cache fits its cap (pure). Nothing while the whole cache
 * (`totalBytes`: every file, blobs and the registry's metadata and unfinished uploads) is at or
 * under `capBytes`; over it, the least recently used blobs (the biggest first among equally old
 * ones, then by path: the same input always gives the same plan) until it is at or under
 * `lowWaterBytes`, so the next pull does not start another pass at once. What is not a blob
 * (metadata, uploads in flight) is never evicted: if it alone is over the cap, every blob goes.
 */
export function planPrune(o: { blobs: StoredBlob[]; totalBytes: number; capBytes: number; lowWaterBytes: number }): PrunePlan {
  if (o.totalBytes <= o.capBytes) return { evict: [], bytesAfter: o.totalBytes };
  const order = [...o.blobs].sort((a, b) => a.lastUsedMs - b.lastUsedMs || b.bytes - a.bytes || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const evict: StoredBlob[] = [];
  let total = o.totalBytes;
  for (const b of order) {
    if (total <= o.lowWaterBytes) break;
    evict.push(b);
    total -= b.bytes;
  }
  return { evict, bytesAfter: total };
}

/** The low-water mark a pass prunes down to: 90% of the cap. */
export const lowWater = (capBytes: number): number => Math.floor(capBytes * 0.9);
