/**
 * Remembers the answer to a request for a while, including while it is being made: hostd asks
 * again when a reply is lost (its timeout), and a second mint would fail with 409 (GitHub) or
 * leave a second runner (GitLab). Holds only what `keep` accepts (sealed boxes, which only the
 * host can open), in memory, bounded.
 */
export class ReplyCache<T> {
  private readonly entries = new Map<string, { at: number; value: Promise<T> }>();
  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 10_000,
  ) {}

  get(key: string, make: () => Promise<T>, keep: (v: T) => boolean): Promise<T> {
    const t = this.now();
    for (const [k, e] of this.entries) {
      if (t - e.at < this.ttlMs && this.entries.size <= this.maxEntries) break;
      this.entries.delete(k); // oldest first: Map keeps insertion order
    }
    const hit = this.entries.get(key);
    if (hit && t - hit.at < this.ttlMs) return hit.value;
    const value = make();
    this.entries.set(key, { at: t, value });
    const drop = () => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    };
    value.then((v) => (keep(v) ? undefined : drop()), drop);
    return value;
  }
}
