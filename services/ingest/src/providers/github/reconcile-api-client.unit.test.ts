import { describe, expect, it } from "vitest";
import { gitlabJobAnswer } from "../gitlab/reconcile-api-client.js";
import { deliveryRow, jobAnswer, nextLink } from "./reconcile-api-client.js";

const call = "GET /repos/a/b/actions/jobs/1";
describe("GitHub job answer", () => {
  it.each<[string, number, unknown, unknown]>([
    ["queued", 200, { status: "queued", runner_name: null }, { status: "queued", detail: "queued" }],
    ["waiting", 200, { status: "waiting" }, { status: "queued", detail: "waiting" }],
    ["in_progress", 200, { status: "in_progress", runner_name: "oneshot-h-v" }, { status: "in_progress", runnerName: "oneshot-h-v" }],
    [
      "completed",
      200,
      { status: "completed", conclusion: "success", runner_id: 5, runner_name: "r" },
      { status: "completed", conclusion: "success", ranOnRunner: true, runnerName: "r" },
    ],
    [
      "cancelled before pickup",
      200,
      { status: "completed", conclusion: "cancelled", runner_id: null },
      { status: "completed", conclusion: "cancelled", ranOnRunner: false },
    ],
    [
      "unknown conclusion",
      200,
      { status: "completed", conclusion: "startup_failure", runner_id: 0 },
      { status: "completed", conclusion: "neutral", ranOnRunner: false },
    ],
    ["404", 404, { message: "Not Found" }, { status: "not_found" }],
  ])("%s", (_n, status, json, want) => expect(jobAnswer(call, { status, json })).toEqual({ call, ...(want as object) }));
  it.each([401, 403, 500, 418])("%s throws a typed error", (status) =>
    expect(() => jobAnswer(call, { status, json: {} })).toThrow(/GET \/repos\/a\/b\/actions\/jobs\/1/),
  );
});

describe("GitLab job answer", () => {
  it.each<[string, unknown, unknown]>([
    ["pending", { status: "pending", runner: null }, { status: "queued", detail: "pending" }],
    ["running", { status: "running", runner: { id: 3, description: "oneshot-h-v" } }, { status: "in_progress", runnerName: "oneshot-h-v" }],
    ["success", { status: "success", runner: { id: 3, description: "r" } }, { status: "completed", conclusion: "success", ranOnRunner: true, runnerName: "r" }],
    ["failed", { status: "failed", runner: { id: 3, description: "r" } }, { status: "completed", conclusion: "failure", ranOnRunner: true, runnerName: "r" }],
    ["canceled before pickup", { status: "canceled", runner: null }, { status: "completed", conclusion: "cancelled", ranOnRunner: false }],
  ])("%s", (_n, json, want) =>
    expect(gitlabJobAnswer("GET /projects/9/jobs/1", { status: 200, json })).toEqual({ call: "GET /projects/9/jobs/1", ...(want as object) }),
  );
});

describe("deliveries", () => {
  it.each<[string, string | null, string, string | undefined]>([
    [
      "next on the same base",
      '<https://api.github.com/app/hook/deliveries?per_page=100&cursor=v1_9>; rel="next"',
      "https://api.github.com",
      "/app/hook/deliveries?per_page=100&cursor=v1_9",
    ],
    ["GHES base path", '<https://ghe.example/api/v3/app/hook/deliveries?cursor=x>; rel="next"', "https://ghe.example/api/v3", "/app/hook/deliveries?cursor=x"],
    [
      "another origin is not followed (the JWT stays home)",
      '<https://evil.example/app/hook/deliveries?cursor=x>; rel="next"',
      "https://api.github.com",
      undefined,
    ],
    ["no next", '<https://api.github.com/x>; rel="prev"', "https://api.github.com", undefined],
    ["no header", null, "https://api.github.com", undefined],
  ])("Link: %s", (_n, link, base, want) => expect(nextLink(link, base)).toBe(want));
  it("a list row", () => {
    expect(
      deliveryRow({ id: 12, guid: "g", delivered_at: "2026-12-01T00:00:00Z", redelivery: false, status_code: 503, event: "workflow_job", action: "queued" }),
    ).toEqual({ id: "12", guid: "g", deliveredAt: "2026-12-01T00:00:00Z", redelivery: false, statusCode: 503, event: "workflow_job", action: "queued" });
    expect(deliveryRow({ guid: "g" })).toBeUndefined();
  });
});
