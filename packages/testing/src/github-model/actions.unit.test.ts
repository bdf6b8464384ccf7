import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ActionsModel, covers, type ModelJob } from "./actions.js";
import { seededRng } from "./rng.js";

describe("Actions model (GitHub's assignment rules)", () => {
  let sent: [string, number, number | null][];
  let m: ActionsModel;
  const make = (o: ConstructorParameters<typeof ActionsModel>[2] = {}) =>
    new ActionsModel(
      seededRng(5),
      { workflowJob: (a, j: ModelJob) => void sent.push([a, j.id, j.runnerId]), offered: () => {}, runnerRemoved: () => {} },
      { reofferMs: 1000, ...o },
    );
  const runner = (name: string, labels: string[], scope: "org" | "repo" = "org") => {
    const r = m.registerRunner({
      name,
      labels,
      scope: scope === "org" ? { kind: "org", org: "acme" } : { kind: "repo", repo: "acme/widgets" },
      runnerGroupId: 1,
      token: "t",
    });
    m.connect(r.id);
    return r;
  };
  beforeEach(() => {
    vi.useFakeTimers();
    sent = [];
    m = make();
  });
  afterEach(() => {
    m.close();
    vi.useRealTimers();
  });

  it("matches labels as a case-insensitive superset, with the implicit self-hosted", () => {
    expect(covers(["self-hosted", "oneshot", "gpu"], ["Self-Hosted", "ONESHOT"])).toBe(true);
    expect(covers(["self-hosted", "oneshot"], ["oneshot", "arm64"])).toBe(false);
    expect(m.registerRunner({ name: "x", labels: ["Oneshot"], scope: { kind: "org", org: "acme" }, runnerGroupId: 1, token: "t" }).labels).toEqual([
      "self-hosted",
      "oneshot",
    ]);
  });

  it("offers to any covering idle online runner, never to an offline or busy one; an uncovered job stays queued", () => {
    const offline = m.registerRunner({ name: "off", labels: ["oneshot"], scope: { kind: "org", org: "acme" }, runnerGroupId: 1, token: "t" });
    const a = runner("a", ["oneshot", "extra"]);
    m.queueJob({ id: 1, repo: "acme/widgets", labels: ["oneshot"] });
    m.queueJob({ id: 2, repo: "acme/widgets", labels: ["oneshot"] });
    m.queueJob({ id: 3, repo: "acme/widgets", labels: ["oneshot", "arm64"] });
    expect(m.jobs.get(1)!.offer?.runnerId).toBe(a.id);
    expect(m.jobs.get(2)!.offer).toBeUndefined(); // a has an offer already; `off` is offline
    expect(offline.offeredJobId).toBeUndefined();
    expect(m.acquire(a.id, 1)).toMatchObject({ ok: true });
    expect(m.acquire(a.id, 2)).toMatchObject({ ok: false });
    m.complete(a.id, 1, 0);
    expect(m.runners.has(a.id)).toBe(false); // JIT: one job, then removed
    expect(m.jobs.get(3)).toMatchObject({ status: "queued", offers: 0 });
    expect(sent).toEqual([
      ["queued", 1, null],
      ["queued", 2, null],
      ["queued", 3, null],
      ["in_progress", 1, a.id],
      ["completed", 1, a.id],
    ]);
  });

  it("re-offers a job whose runner did not acquire it within the window, and refuses the late acquire", () => {
    const a = runner("a", ["oneshot"]);
    m.queueJob({ id: 1, repo: "acme/widgets", labels: ["oneshot"] });
    expect(m.jobs.get(1)!.offer?.runnerId).toBe(a.id);
    const b = runner("b", ["oneshot"]);
    vi.advanceTimersByTime(1001);
    const j = m.jobs.get(1)!;
    expect(j.offers).toBe(2);
    expect(j.status).toBe("queued");
    const to = j.offer!.runnerId;
    const other = to === a.id ? b : a;
    expect(m.acquire(other.id, 1)).toMatchObject({ ok: false });
    expect(m.acquire(to, 1)).toMatchObject({ ok: true });
    expect(b.id).toBeGreaterThan(a.id);
  });

  it("cancels before pickup as completed/cancelled with no runner; refuses DELETE of a runner running a job", () => {
    const a = runner("a", ["oneshot"]);
    m.queueJob({ id: 1, repo: "acme/widgets", labels: ["oneshot"] });
    m.cancel(1);
    expect(m.jobs.get(1)).toMatchObject({ status: "completed", conclusion: "cancelled", runnerId: null });
    expect(a.offeredJobId).toBeUndefined();
    m.queueJob({ id: 2, repo: "acme/widgets", labels: ["oneshot"] });
    m.acquire(a.id, 2);
    expect(m.removeRunner(a, true)).toBe("busy");
    expect(m.complete(a.id, 2, 1)?.conclusion).toBe("failure");
  });

  it("keeps repo runners to their repo", () => {
    const r = runner("r", ["oneshot"], "repo");
    m.queueJob({ id: 1, repo: "acme/other", labels: ["oneshot"] });
    expect(m.jobs.get(1)!.offer).toBeUndefined();
    m.queueJob({ id: 2, repo: "acme/widgets", labels: ["oneshot"] });
    expect(r.offeredJobId).toBe(2);
  });
});
