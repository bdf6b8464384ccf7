import { describe, expect, it } from "vitest";
import type { DomainEvent, Stored } from "@oneshot/proto";
import { evolve } from "./evolve.js";
import { initialState } from "./state.js";

describe("evolve on what the log should not hold", () => {
  it("leaves the state as it was for a type it does not know (never returns the message as the state)", () => {
    const s = initialState();
    const stray = {
      type: "HostHeartbeat",
      version: 2,
      id: "x",
      occurredAt: "2026-12-01T00:00:00Z",
      correlationId: "c",
      causationId: null,
      subject: "evt.host.metal-01",
      seq: 1,
      data: { hostId: "metal-01" },
    } as unknown as Stored<DomainEvent>;
    const after = evolve(s, stray);
    expect(after).toBe(s);
    expect(after.hosts.size).toBe(0);
    expect(after.pending.size).toBe(0);
  });
});
