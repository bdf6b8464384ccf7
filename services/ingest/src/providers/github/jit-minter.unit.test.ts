import { describe, expect, it } from "vitest";
import { githubError } from "./jit-minter.js";
import { retryAfterSec } from "../shared/provider-error.js";

const answer = (status: number, headers: Record<string, string> = {}) => Object.assign(new Error("HttpError"), { status, response: { headers } });

describe("GitHub's answers → typed errors hostd can act on", () => {
  it.each([
    [409, {}, { code: "duplicate-name", retryable: false }],
    [422, {}, { code: "invalid", retryable: false }],
    [429, { "retry-after": "30" }, { code: "rate-limited", retryAfterSec: 30, retryable: true }],
    [403, { "retry-after": "7" }, { code: "rate-limited", retryAfterSec: 7 }],
    [403, { "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1000120" }, { code: "rate-limited", retryAfterSec: 120 }],
    [403, {}, { code: "not-configured" }],
    [401, {}, { code: "not-configured" }],
    [404, {}, { code: "not-configured" }],
    [502, {}, { code: "provider-error", retryable: true }],
    [0, {}, { code: "provider-error", retryable: true }],
  ] as const)("%i %j", (status, headers, want) => {
    expect(githubError(answer(status, headers), "generate-jitconfig", 1_000_000_000)).toMatchObject(want);
  });

  it("reads retry-after in seconds, or the reset time when the limit is spent", () => {
    const h = (o: Record<string, string>) => ({ get: (n: string) => o[n] });
    expect(retryAfterSec(h({ "retry-after": "2.5" }), 0)).toBe(3);
    expect(retryAfterSec(h({ "x-ratelimit-remaining": "0", "x-ratelimit-reset": "100" }), 99_500)).toBe(1);
    expect(retryAfterSec(h({ "x-ratelimit-remaining": "5", "x-ratelimit-reset": "100" }), 0)).toBeUndefined();
    expect(retryAfterSec(h({}), 0)).toBeUndefined();
  });
});
