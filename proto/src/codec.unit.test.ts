import { pack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { DecodeError, EncodeError, decode, decodeStored, encode, subjectOf, type DomainEvent } from "./index.js";
import { examples, goldenMeta } from "./examples.js";

const queued = { type: "JobQueued", data: examples.JobQueued } as const;

describe("codec", () => {
  it("round-trips an event with its envelope", () => {
    const bytes = encode(queued, goldenMeta);
    const back = decode(bytes);
    expect(back).toEqual({ ...goldenMeta, type: "JobQueued", version: 3, data: examples.JobQueued });
  });

  it("decodeStored gives exactly decode's fields plus the place in the stream, and refuses what decode refuses", () => {
    const bytes = encode(queued, goldenMeta);
    expect(decodeStored(bytes, "evt.job.gh-29679449", 7)).toStrictEqual({ ...decode(bytes), subject: "evt.job.gh-29679449", seq: 7 });
    expect(Object.keys(decode(bytes)).sort()).toEqual(["causationId", "correlationId", "data", "id", "occurredAt", "type", "version"]);
    const bad = pack({ ...goldenMeta, type: "JobQueued", version: 1, data: { jobId: 5 } });
    expect(() => decodeStored(bad, "evt.job.x", 9)).toThrow(/invalid JobQueued v1 \(subject=evt.job.x seq=9\)/);
  });

  it("refuses a type named after an Object property as unknown (a DecodeError, not a TypeError)", () => {
    for (const type of ["__proto__", "toString", "constructor", "hasOwnProperty"]) {
      expect(() => decode(pack({ ...goldenMeta, type, version: 1, data: {} }))).toThrow(DecodeError);
      expect(() => decode(pack({ ...goldenMeta, type, version: 1, data: {} }))).toThrow(/unknown message type/);
      expect(() => encode({ type, data: {} } as unknown as DomainEvent, goldenMeta)).toThrow(EncodeError);
    }
  });

  it("writes plain MessagePack maps that a generic decoder reads", async () => {
    const { unpack } = await import("msgpackr");
    const raw = unpack(encode(queued, goldenMeta)) as Record<string, unknown>;
    expect(raw.type).toBe("JobQueued");
    expect((raw.data as Record<string, unknown>).jobId).toBe("gh-29679449");
  });

  it("drops undefined fields instead of encoding an extension", () => {
    const bytes = encode({ type: "JobStarted", data: { jobId: "j1", runnerName: undefined, reportedBy: "webhook" } }, goldenMeta);
    expect(decode(bytes).data).toEqual({ jobId: "j1", reportedBy: "webhook" });
  });

  it("refuses to encode an invalid event, naming the field", () => {
    expect(() => encode({ type: "JobScheduled", data: { ...examples.JobScheduled, vmId: "Not-OK!" } }, goldenMeta)).toThrow(/vmId/);
    expect(() => encode({ type: "JobScheduled", data: { ...examples.JobScheduled, vmId: "Not-OK!" } }, goldenMeta)).toThrow(EncodeError);
  });

  it("reports subject, sequence and zod issues on a malformed payload", () => {
    const bad = pack({ ...goldenMeta, type: "JobQueued", version: 1, data: { jobId: 5 } });
    try {
      decode(bad, { subject: "evt.job.x", seq: 42 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DecodeError);
      const err = e as DecodeError;
      expect(err.subject).toBe("evt.job.x");
      expect(err.seq).toBe(42);
      expect(err.issues.map((i) => i.path.join("."))).toContain("jobId");
      expect(err.message).toMatch(/seq=42/);
    }
  });

  it("rejects garbage, unknown types and unknown versions", () => {
    expect(() => decode(new Uint8Array([0xc1]))).toThrow(DecodeError);
    expect(() => decode(pack({ ...goldenMeta, type: "Nope", version: 1, data: {} }))).toThrow(/unknown message type/);
    expect(() => decode(pack({ ...goldenMeta, type: "JobQueued", version: 99, data: {} }))).toThrow(/unknown version/);
  });

  it("derives each event's subject from the event", () => {
    const cases: [DomainEvent, string][] = [
      [queued, "evt.job.gh-29679449"],
      [{ type: "JobScheduled", data: examples.JobScheduled }, "evt.host.metal-01"],
      [{ type: "VmExited", data: examples.VmExited }, "evt.host.metal-01.vm.k3j9x2ab"],
      [{ type: "ReclaimRequested", data: examples.ReclaimRequested }, "evt.host.metal-01"],
    ];
    for (const [e, s] of cases) expect(subjectOf(e)).toBe(s);
  });
});

describe("vmIdFor", () => {
  it("is deterministic, 10 chars of [a-z0-9], and differs per attempt", async () => {
    const { vmIdFor } = await import("./index.js");
    expect(vmIdFor("gh-1", 0)).toBe(vmIdFor("gh-1", 0));
    expect(vmIdFor("gh-1", 0)).not.toBe(vmIdFor("gh-1", 1));
    for (let i = 0; i < 1000; i++) expect(vmIdFor(`loc-${i}`, i % 3)).toMatch(/^[a-z0-9]{10}$/);
  });
});
