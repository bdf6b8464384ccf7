import { describe, expect, it } from "vitest";
import { ReplyCache } from "./reply-cache.js";

describe("reply cache", () => {
  it("answers a repeat (even in flight) from memory, keeps only what `keep` accepts, and forgets after the TTL", async () => {
    let now = 0;
    const cache = new ReplyCache<{ ok: boolean; n: number }>(1000, () => now);
    let made = 0;
    const make = (ok: boolean) => () => Promise.resolve({ ok, n: ++made });
    const keepOk = (v: { ok: boolean }) => v.ok;
    const [a, b] = await Promise.all([cache.get("k", make(true), keepOk), cache.get("k", make(true), keepOk)]);
    expect([a.n, b.n]).toEqual([1, 1]);
    now = 999;
    expect((await cache.get("k", make(true), keepOk)).n).toBe(1);
    now = 1000;
    expect((await cache.get("k", make(true), keepOk)).n).toBe(2);
    // Refusals are not kept: the next ask tries again.
    expect((await cache.get("f", make(false), keepOk)).n).toBe(3);
    expect((await cache.get("f", make(false), keepOk)).n).toBe(4);
    await expect(cache.get("x", () => Promise.reject(new Error("boom")), keepOk)).rejects.toThrow("boom");
    expect((await cache.get("x", make(true), keepOk)).n).toBe(5);
  });

  it("stays bounded", async () => {
    const cache = new ReplyCache<number>(60_000, () => 0, 3);
    for (let i = 0; i < 10; i++)
      await cache.get(
        `k${i}`,
        () => Promise.resolve(i),
        () => true,
      );
    expect(
      await cache.get(
        "k0",
        () => Promise.resolve(-1),
        () => true,
      ),
    ).toBe(-1);
    expect(
      await cache.get(
        "k9",
        () => Promise.resolve(-1),
        () => true,
      ),
    ).toBe(9);
  });
});
