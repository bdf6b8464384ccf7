import { describe, expect, it } from "vitest";
import type { DomainEvent } from "@oneshot/proto";
import { deliveriesToRedeliver, nextCheckpoint, redeliveredEvent } from "./deliveries.js";
import { decideJobAnswer } from "./job-answer.js";
import { idleKey } from "./projection.js";
import { staleJobs } from "./stale-jobs.js";
import { T0, ghSource, given, iso, queued } from "./test-events.js";
import type { HookDelivery, ProviderJob } from "./types.js";
import { decideRetire, idleTookJob, planIdle, ranOn } from "./vm-idle.js";

const MIN = 60_000;
const idle = (vmId: string, bootedForJobId: string, candidateJobIds: string[], hostId = "h1"): DomainEvent => ({
  type: "VmIdle",
  data: { hostId, vmId, bootedForJobId, runnerName: `oneshot-${hostId}-${vmId}`, reason: "booted for it; it ran elsewhere", candidateJobIds },
});
const started = (jobId: string, vmId?: string): DomainEvent => ({
  type: "JobStarted",
  data: { jobId, reportedBy: "webhook", ...(vmId ? { vmId, hostId: "h1", runnerName: `oneshot-h1-${vmId}` } : {}) },
});

describe("projection", () => {
  it.each<[string, [DomainEvent, number?][], string, string | undefined]>([
    ["queued", [[queued("gh-1")]], "queued", undefined],
    ["started", [[queued("gh-1")], [started("gh-1")]], "started", undefined],
    [
      "ended",
      [[queued("gh-1")], [started("gh-1")], [{ type: "JobCompleted", data: { jobId: "gh-1", conclusion: "success", exitCode: null, reportedBy: "provider" } }]],
      "ended",
      undefined,
    ],
    ["cancelled before start", [[queued("gh-1")], [{ type: "JobCancelled", data: { jobId: "gh-1", reason: "x" } }]], "ended", undefined],
    ["ignored", [[{ type: "JobIgnored", data: { jobId: "gh-1", source: ghSource("1"), reason: "not ours" } }]], "ignored", undefined],
    ["a late queued does not undo an end", [[{ type: "JobCancelled", data: { jobId: "gh-1", reason: "x" } }], [queued("gh-1")]], "ended", undefined],
  ])("%s", (_n, events, state) => {
    expect(given(events).jobs.get("gh-1")!.state).toBe(state);
  });

  it("tracks the job subject's last sequence and the chain's correlation id", () => {
    const s = given([[queued("gh-1")], [queued("gh-2")], [started("gh-1")]]);
    const j = s.jobs.get("gh-1")!;
    expect(j.lastSeq).toBe(s.readSeq);
    expect(j.correlationId).toBe("corr-gh-1");
    expect(s.jobs.get("gh-2")!.lastSeq).toBeLessThan(j.lastSeq);
  });

  it.each<[string, DomainEvent | undefined, boolean]>([
    ["unanswered", undefined, true],
    ["VmRetired", { type: "VmRetired", data: { hostId: "h1", vmId: "v1", reason: "r" } }, false],
    ["JobStarted on the VM", started("gh-2", "v1"), false],
    ["JobStarted on another VM", started("gh-2", "v9"), true],
    ["VmDestroyed", { type: "VmDestroyed", data: { hostId: "h1", vmId: "v1", jobId: "gh-1", removed: [] } }, false],
    ["VmVanished", { type: "VmVanished", data: { hostId: "h1", vmId: "v1", jobId: "gh-1", reason: "r" } }, false],
    ["HostLost", { type: "HostLost", data: { hostId: "h1", lastSeenAt: iso(T0), reason: "r" } } as DomainEvent, false],
  ])("VmIdle pending after %s: %s", (_n, after, pending) => {
    const s = given([[queued("gh-1")], [queued("gh-2")], [idle("v1", "gh-1", ["gh-2"])], ...(after ? [[after] as [DomainEvent]] : [])]);
    expect(s.idles.has(idleKey("h1", "v1"))).toBe(pending);
  });
});

describe("staleJobs", () => {
  const o = { staleAfterMs: 5 * MIN, intervalMs: 2 * MIN, maxPerTick: 10, hasApi: (p: string) => p !== "local" };
  it.each<[string, [DomainEvent, number?][], Map<string, number>, number, string[]]>([
    ["queued 4 min ago: fresh", [[queued("gh-1"), T0]], new Map(), T0 + 4 * MIN, []],
    ["queued 6 min ago: stale", [[queued("gh-1"), T0]], new Map(), T0 + 6 * MIN, ["gh-1"]],
    ["checked 1 min ago: not again", [[queued("gh-1"), T0]], new Map([["gh-1", T0 + 5 * MIN]]), T0 + 6 * MIN, []],
    ["checked 2 min ago: again", [[queued("gh-1"), T0]], new Map([["gh-1", T0 + 4 * MIN]]), T0 + 6 * MIN, ["gh-1"]],
    [
      "started 6 min ago: stale (its completed may be lost)",
      [
        [queued("gh-1"), T0],
        [started("gh-1"), T0 + 1 * MIN],
      ],
      new Map(),
      T0 + 7 * MIN,
      ["gh-1"],
    ],
    [
      "started 40 min ago, checked 5 min ago: not yet (every quarter of its run)",
      [
        [queued("gh-1"), T0],
        [started("gh-1"), T0],
      ],
      new Map([["gh-1", T0 + 35 * MIN]]),
      T0 + 40 * MIN,
      [],
    ],
    [
      "started 40 min ago, checked 11 min ago: again",
      [
        [queued("gh-1"), T0],
        [started("gh-1"), T0],
      ],
      new Map([["gh-1", T0 + 29 * MIN]]),
      T0 + 40 * MIN,
      ["gh-1"],
    ],
    [
      "started 4 min ago: fresh",
      [
        [queued("gh-1"), T0],
        [started("gh-1"), T0 + 3 * MIN],
      ],
      new Map(),
      T0 + 7 * MIN,
      [],
    ],
    [
      "ended: never",
      [
        [queued("gh-1"), T0],
        [{ type: "JobCancelled", data: { jobId: "gh-1", reason: "r" } }, T0],
      ],
      new Map(),
      T0 + 60 * MIN,
      [],
    ],
    ["local: no API", [[queued("lo-1", { ...ghSource("1"), provider: "local" }), T0]], new Map(), T0 + 60 * MIN, []],
    [
      "never checked first, then oldest",
      [
        [queued("gh-1"), T0 + MIN],
        [queued("gh-2"), T0],
        [queued("gh-3"), T0 + 2 * MIN],
      ],
      new Map([["gh-2", T0 + 5 * MIN]]),
      T0 + 8 * MIN,
      ["gh-1", "gh-3", "gh-2"],
    ],
  ])("%s", (_n, events, checked, now, want) => {
    expect(staleJobs(given(events), now, checked, o).map((j) => j.jobId)).toEqual(want);
  });
  it("caps a tick", () => {
    const s = given([[queued("gh-1")], [queued("gh-2")], [queued("gh-3")]]);
    expect(staleJobs(s, T0 + 10 * MIN, new Map(), { ...o, maxPerTick: 2 })).toHaveLength(2);
  });
});

describe("decideJobAnswer", () => {
  const call = "GET /repos/acme/widgets/actions/jobs/1";
  const q = () => given([[queued("gh-1")]]).jobs.get("gh-1")!;
  const st = () => given([[queued("gh-1")], [started("gh-1", "v1")]]).jobs.get("gh-1")!;
  it.each<[string, () => ReturnType<typeof q>, ProviderJob, string, Record<string, unknown> | undefined]>([
    ["queued stays queued", q, { status: "queued", call, detail: "queued" }, "none", undefined],
    ["not found: nothing", q, { status: "not_found", call }, "none", undefined],
    [
      "in_progress on ours → JobStarted naming the VM",
      q,
      { status: "in_progress", call, runnerName: "oneshot-h2-abc123" },
      "started",
      {
        type: "JobStarted",
        data: {
          jobId: "gh-1",
          runnerName: "oneshot-h2-abc123",
          hostId: "h2",
          vmId: "abc123",
          reportedBy: "reconcile",
          reason: `${call}: in_progress on oneshot-h2-abc123`,
        },
      },
    ],
    [
      "in_progress on a hosted runner → JobStarted without a VM",
      q,
      { status: "in_progress", call, runnerName: "GitHub Actions 2" },
      "started",
      {
        type: "JobStarted",
        data: { jobId: "gh-1", runnerName: "GitHub Actions 2", reportedBy: "reconcile", reason: `${call}: in_progress on GitHub Actions 2` },
      },
    ],
    ["in_progress, already started: nothing", st, { status: "in_progress", call, runnerName: "oneshot-h1-v1" }, "none", undefined],
    [
      "completed → JobCompleted",
      st,
      { status: "completed", call, conclusion: "failure", runnerName: "oneshot-h1-v1", ranOnRunner: true },
      "completed",
      {
        type: "JobCompleted",
        data: { jobId: "gh-1", conclusion: "failure", exitCode: null, reportedBy: "reconcile", reason: `${call}: completed (failure) on oneshot-h1-v1` },
      },
    ],
    [
      "completed while queued (its start was lost too) → JobCompleted",
      q,
      { status: "completed", call, conclusion: "success", runnerName: "oneshot-h1-v1", ranOnRunner: true },
      "completed",
      undefined,
    ],
    [
      "cancelled, never started → JobCancelled",
      q,
      { status: "completed", call, conclusion: "cancelled", ranOnRunner: false },
      "cancelled",
      { type: "JobCancelled", data: { jobId: "gh-1", reason: `${call}: completed (cancelled) before any runner took it` } },
    ],
    ["cancelled after start → JobCompleted cancelled", st, { status: "completed", call, conclusion: "cancelled", ranOnRunner: false }, "completed", undefined],
  ])("%s", (_n, job, answer, kind, event) => {
    const j = job();
    const d = decideJobAnswer(j, answer);
    expect(d.kind).toBe(kind);
    if (d.kind !== "none") {
      expect(d.append.expectedLastSubjectSeq).toBe(j.lastSeq);
      expect(d.append.correlationId).toBe("corr-gh-1");
      expect(d.append.msgId).toBe(kind === "started" ? "reconcile-started:gh-1" : "reconcile-ended:gh-1");
      if (event) expect(d.append.event).toEqual(event);
    }
  });
  it("an ended job is never touched", () => {
    const j = given([[queued("gh-1")], [{ type: "JobCancelled", data: { jobId: "gh-1", reason: "r" } }]]).jobs.get("gh-1")!;
    expect(decideJobAnswer(j, { status: "in_progress", call, runnerName: "x" }).kind).toBe("none");
  });
});

describe("deliveriesToRedeliver", () => {
  const row = (id: number, guid: string, statusCode: number, atMs: number, event = "workflow_job"): HookDelivery => ({
    id: String(id),
    guid,
    deliveredAt: iso(atMs),
    redelivery: false,
    statusCode,
    event,
    action: "queued",
  });
  const now = T0 + 10 * MIN;
  it.each<[string, HookDelivery[], Map<string, number>, string[]]>([
    ["a 503 is redelivered", [row(1, "g1", 503, T0)], new Map(), ["1"]],
    ["no answer (0) is redelivered", [row(1, "g1", 0, T0)], new Map(), ["1"]],
    ["a 400 too", [row(1, "g1", 400, T0)], new Map(), ["1"]],
    ["a 2xx is not", [row(1, "g1", 200, T0), row(2, "g2", 202, T0)], new Map(), []],
    ["a later success of the guid: not", [row(2, "g1", 200, T0 + MIN), row(1, "g1", 503, T0)], new Map(), []],
    ["the newest failure of a guid, once", [row(3, "g1", 503, T0 + 2 * MIN), row(1, "g1", 500, T0)], new Map(), ["3"]],
    ["redelivered by us 30 min ago: not", [row(1, "g1", 503, T0)], new Map([["g1", now - 30 * MIN]]), []],
    ["redelivered by us 61 min ago: again", [row(1, "g1", 503, T0)], new Map([["g1", now - 61 * MIN]]), ["1"]],
    ["older than 3 days: not", [row(1, "g1", 503, now - 3 * 24 * 60 * MIN - 1)], new Map(), []],
    ["other events: not", [row(1, "g1", 503, T0, "ping")], new Map(), []],
    ["oldest first", [row(2, "g2", 503, T0 + MIN), row(1, "g1", 503, T0)], new Map(), ["1", "2"]],
  ])("%s", (_n, rows, redelivered, want) => {
    expect(deliveriesToRedeliver(rows, redelivered, now).map((d) => d.id)).toEqual(want);
  });
  it.each<[string, number, HookDelivery[], number]>([
    ["moves to the newest row less the overlap", 0, [row(1, "g", 200, T0), row(2, "g", 200, T0 - MIN)], T0 - 5 * MIN],
    ["nothing listed: stays", T0 - 60 * MIN, [], T0 - 60 * MIN],
    ["never goes back", T0, [row(1, "g", 200, T0 - MIN)], T0],
  ])("checkpoint: %s", (_n, prev, rows, want) => {
    expect(nextCheckpoint(prev, rows)).toBe(want);
  });
  it("DeliveryRedelivered names the attempt and says why", () => {
    const e = redeliveredEvent(row(9, "g9", 503, T0), iso(now));
    expect(e).toMatchObject({
      type: "DeliveryRedelivered",
      data: { provider: "github", deliveryId: "9", guid: "g9", event: "workflow_job", action: "queued", statusCode: 503, deliveredAt: iso(T0) },
    });
    expect((e.data as { reason: string }).reason).toMatch(/failed \(503\).*POST \/app\/hook\/deliveries\/9\/attempts/);
  });
});

describe("VmIdle", () => {
  const has = (p: string) => p !== "local";
  it("local: retire at once, saying no API check was possible", () => {
    const s = given([[queued("lo-1", { ...ghSource("1"), provider: "local" })], [idle("v1", "lo-1", [])]]);
    const plan = planIdle(s.idles.get("h1/v1")!, s, has);
    expect(plan).toMatchObject({ kind: "retire-now", reason: expect.stringMatching(/no provider API/) });
  });
  it("GitHub without an App: retire at once", () => {
    const s = given([[queued("gh-1")], [idle("v1", "gh-1", [])]]);
    expect(planIdle(s.idles.get("h1/v1")!, s, () => false)).toMatchObject({
      kind: "retire-now",
      reason: expect.stringMatching(/no GitHub App configured: no API check was possible/),
    });
  });
  it("candidates: still queued, same provider, and the booted-for job", () => {
    const s = given([
      [queued("gh-1")],
      [queued("gh-2")],
      [queued("gh-3")],
      [started("gh-3", "v7")],
      [queued("gl-4", { ...ghSource("4"), provider: "gitlab" })],
      [idle("v1", "gh-1", ["gh-2", "gh-3", "gl-4", "gh-404"])],
    ]);
    const plan = planIdle(s.idles.get("h1/v1")!, s, has);
    expect(plan.kind === "check" && plan.candidates.map((j) => j.jobId)).toEqual(["gh-2", "gh-1"]);
  });
  it("unknown booted-for source: stuck, not retired", () => {
    const s = given([[idle("v1", "gh-1", [])]]);
    expect(planIdle(s.idles.get("h1/v1")!, s, has).kind).toBe("stuck");
  });
  it.each<[string, ProviderJob, boolean]>([
    ["in_progress on this runner", { status: "in_progress", call: "c", runnerName: "oneshot-h1-v1" }, true],
    ["completed on this runner", { status: "completed", call: "c", conclusion: "success", runnerName: "oneshot-h1-v1", ranOnRunner: true }, true],
    ["in_progress elsewhere", { status: "in_progress", call: "c", runnerName: "oneshot-h1-v2" }, false],
    ["queued", { status: "queued", call: "c", detail: "queued" }, false],
  ])("ranOn: %s", (_n, a, want) => expect(ranOn(a, "oneshot-h1-v1")).toBe(want));
  it("the runner took a candidate → JobStarted(reconcile) on it, with the job's sequence", () => {
    const s = given([[queued("gh-2")], [idle("v1", "gh-2", [])]]);
    const d = idleTookJob(
      s.jobs.get("gh-2")!,
      { status: "in_progress", call: "GET /repos/acme/widgets/actions/jobs/2", runnerName: "oneshot-h1-v1" },
      "oneshot-h1-v1",
    );
    expect(d).toMatchObject({
      msgId: "reconcile-started:gh-2",
      expectedLastSubjectSeq: s.jobs.get("gh-2")!.lastSeq,
      event: { type: "JobStarted", data: { jobId: "gh-2", hostId: "h1", vmId: "v1", reportedBy: "reconcile" } },
    });
  });
  it.each<[string, "removed" | "gone" | "busy" | "no-api", string | undefined]>([
    ["removed → VmRetired", "removed", "retired"],
    ["gone → VmRetired", "gone", "retired"],
    ["no API → VmRetired", "no-api", "retired"],
    ["busy → nothing, look again", "busy", "busy"],
  ])("%s", (_n, kind, want) => {
    const s = given([[queued("gh-1")], [idle("v1", "gh-1", [])]]);
    const d = decideRetire(s.idles.get("h1/v1")!, { kind, detail: `DELETE /orgs/acme/actions/runners/5: ${kind}` }, ["gh-1"]);
    expect(d.kind).toBe(want);
    if (d.kind === "retired") {
      expect(d.msgId).toBe("retired:h1:v1");
      expect(d.event).toEqual({ type: "VmRetired", data: { hostId: "h1", vmId: "v1", reason: expect.stringContaining("idle because: booted for it") } });
    }
  });
});
