import type { DomainEvent } from "@oneshot/proto";
import { describe, expect, it } from "vitest";
import { jobEvent, queued, registered } from "../testing/fixtures.js";
import { fold } from "./evolve.js";
import { historyOf } from "./history.js";
import { FINISHED_MEMORY_MS } from "./job-memory.js";
import { initialState, type SchedulerState } from "./state.js";

const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(T0 + ms).toISOString();
/** Appends `events` at sequence `seq` onwards, at time T0 + `ms`. */
const apply = (s: SchedulerState, seq: number, ms: number, ...events: DomainEvent[]) => fold(s, historyOf(events, seq, at(ms)));

describe("the scheduler forgets ended jobs once no delivery about them can come", () => {
  it("remembers an ended job for FINISHED_MEMORY_MS: a late JobQueued in that time places nothing", () => {
    let s = apply(initialState(), 1, 0, registered("h1"), queued("j1"), jobEvent("JobCompleted", "j1"));
    s = apply(s, 1024, FINISHED_MEMORY_MS - 60_000, queued("other"));
    expect(s.finished.has("j1")).toBe(true);
    s = apply(s, 1025, FINISHED_MEMORY_MS - 1, queued("j1"));
    expect(s.jobs.has("j1")).toBe(false);
    expect(s.pending.has("j1")).toBe(false);
  });

  it("forgets it afterwards, in the order jobs ended, and the same for starts seen before their JobQueued", () => {
    let s = apply(initialState(), 1, 0, registered("h1"), queued("a"), jobEvent("JobCompleted", "a"), jobEvent("JobStarted", "early"));
    s = apply(s, 10, 3600_000, queued("b"), jobEvent("JobCancelled", "b"));
    expect([...s.finished.keys()]).toEqual(["a", "b"]);
    expect(s.startedEarly.has("early")).toBe(true);
    // One day after a's end plus the memory: a and the early start go, b (an hour younger) stays.
    s = apply(s, 2048, FINISHED_MEMORY_MS + 60_000, queued("c"));
    expect([...s.finished.keys()]).toEqual(["b"]);
    expect(s.startedEarly.size).toBe(0);
    s = apply(s, 3072, FINISHED_MEMORY_MS + 3600_000 + 60_000, queued("d"));
    expect(s.finished.size).toBe(0);
  });

  it("forgets only at sequences the log decides (every 1024), so every replay forgets the same", () => {
    let s = apply(initialState(), 1, 0, queued("a"), jobEvent("JobCompleted", "a"));
    s = apply(s, 1000, 2 * FINISHED_MEMORY_MS, queued("b"));
    expect(s.finished.has("a")).toBe(true);
    s = apply(s, 1024, 2 * FINISHED_MEMORY_MS, queued("c"));
    expect(s.finished.has("a")).toBe(false);
  });
});
