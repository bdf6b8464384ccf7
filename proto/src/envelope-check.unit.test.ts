import fc from "fast-check";
import { pack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { DecodeError, Envelope, decode } from "./index.js";
import { examples, goldenMeta } from "./examples.js";

// decode() checks envelopes by hand before zod (speed); the two must accept exactly the same.
const nearly = <T>(good: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: good, weight: 20 }, fc.constant(undefined), fc.constant(null), fc.integer(), fc.string({ maxLength: 200 }), fc.boolean());
const envelope = fc.record(
  {
    id: nearly(fc.string({ minLength: 0, maxLength: 70 })),
    type: nearly(fc.oneof({ arbitrary: fc.constant("JobQueued"), weight: 8 }, fc.constant(""), fc.constant("x".repeat(65)))),
    version: nearly(fc.oneof({ arbitrary: fc.constant(1), weight: 8 }, fc.integer({ min: -2, max: 3 }), fc.double(), fc.constant(2 ** 60))),
    occurredAt: nearly(
      fc.oneof(
        fc.constant(goldenMeta.occurredAt),
        fc.constant("2026-01-01T00:00:00+02:00"),
        fc.constant("2026-02-30T00:00:00Z"),
        fc.constant("2026-01-01 00:00:00"),
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      ),
    ),
    correlationId: nearly(fc.string({ minLength: 0, maxLength: 130 })),
    causationId: nearly(fc.string({ minLength: 0, maxLength: 130 })),
  },
  { requiredKeys: ["id", "type", "version", "occurredAt", "correlationId"] },
);

describe("decode's envelope check", () => {
  it("accepts and refuses the same envelopes as the zod schema", () => {
    const seen = { accepted: 0, refused: 0 };
    fc.assert(
      fc.property(envelope, (env) => {
        const raw = { ...env, data: examples.JobQueued };
        const zodSays = Envelope.safeParse(raw).success;
        let ok = true;
        try {
          decode(pack(raw));
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
          ok = !(e as Error).message.startsWith("bad envelope");
        }
        // An envelope zod accepts may still fail later (type/version): only "bad envelope" is compared.
        expect(ok).toBe(zodSays);
        seen[zodSays ? "accepted" : "refused"]++;
      }),
      { numRuns: 3000 },
    );
    // Both sides of the comparison were exercised.
    expect(seen.accepted).toBeGreaterThan(100);
    expect(seen.refused).toBeGreaterThan(100);
  });
});
