import { RetryableError, TerminalError } from "@oneshot/runtime";
import { describe, expect, it } from "vitest";
import { DeadlineExceeded, withinDeadline } from "./deadline.js";

describe("storing within a deadline", () => {
  it("retries retryable failures until an attempt succeeds", async () => {
    let calls = 0;
    const v = await withinDeadline(
      5_000,
      async () => {
        if (++calls < 3) throw new RetryableError("NATS down");
        return "stored";
      },
      1,
    );
    expect(v).toBe("stored");
    expect(calls).toBe(3);
  });

  it("passes a terminal failure through at once", async () => {
    let calls = 0;
    await expect(
      withinDeadline(
        5_000,
        async () => {
          calls++;
          throw new TerminalError("bad event");
        },
        1,
      ),
    ).rejects.toBeInstanceOf(TerminalError);
    expect(calls).toBe(1);
  });

  it("gives up with DeadlineExceeded, carrying the last failure, and stops retrying", async () => {
    let calls = 0;
    const e = await withinDeadline(
      50,
      async () => {
        calls++;
        throw new RetryableError("NATS down");
      },
      5,
    ).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DeadlineExceeded);
    expect((e as DeadlineExceeded).cause).toBeInstanceOf(RetryableError);
    const after = calls;
    await new Promise((r) => setTimeout(r, 30));
    expect(calls - after).toBeLessThanOrEqual(1);
  });
});
