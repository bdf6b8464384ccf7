import { PassThrough } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BodyAborted, BodyTooLarge, readBody } from "./body.js";

/** A request stand-in: headers plus a byte stream fed in the given chunks. */
function request(chunks: Buffer[], headers: Record<string, string> = {}, end = true) {
  const s = new PassThrough() as PassThrough & { headers: Record<string, string> };
  s.headers = headers;
  let fedBytes = 0;
  const feed = async () => {
    for (const c of chunks) {
      if (s.isPaused() && fedBytes > 0) break; // the reader stopped: stop feeding, like a closed socket
      fedBytes += c.length;
      s.write(c);
      await new Promise((r) => setImmediate(r));
    }
    if (end) s.end();
  };
  void feed();
  return { req: s, fed: () => fedBytes };
}

describe("reading a request body under a cap", () => {
  it("returns the exact bytes, however they are chunked, up to the cap (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }), fc.integer({ min: 0, max: 4000 }), async (parts, max) => {
        const chunks = parts.map((p) => Buffer.from(p));
        const whole = Buffer.concat(chunks);
        const { req } = request(chunks);
        const got = readBody(req, max);
        if (whole.length <= max) expect((await got).equals(whole)).toBe(true);
        else await expect(got).rejects.toBeInstanceOf(BodyTooLarge);
      }),
      { numRuns: 150 },
    );
  });

  it("refuses a declared Content-Length over the cap before reading a byte", async () => {
    const { req, fed } = request([], { "content-length": "1048577" }, false);
    await expect(readBody(req, 1024 * 1024)).rejects.toThrow(/1048577 bytes is over the 1048576-byte cap/);
    expect(fed()).toBe(0);
  });

  it("stops at the cap on a body that never ends", async () => {
    const chunks = Array.from({ length: 1000 }, () => Buffer.alloc(1024, 1));
    const { req, fed } = request(chunks, {}, false);
    await expect(readBody(req, 8 * 1024)).rejects.toBeInstanceOf(BodyTooLarge);
    expect(fed()).toBeLessThan(20 * 1024);
  });

  it("reports a client that went away", async () => {
    const { req } = request([Buffer.from("{")], {}, false);
    const got = readBody(req, 1024);
    setImmediate(() => req.destroy(new Error("ECONNRESET")));
    await expect(got).rejects.toBeInstanceOf(BodyAborted);
  });
});
