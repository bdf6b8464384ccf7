import { describe, expect, it } from "vitest";
import { TerminalError } from "@oneshot/runtime";
import { brokerLaunches } from "../testing/fixtures.js";
import { RunnerLaunchInvalidError, parseLaunch } from "./job-inputs.js";

const ids = { jobId: "job-7", vmId: "k3j9x2ab", provider: "any" };
const secret = "glrt-SECRET-do-not-echo";
const attempt = (plain: string): RunnerLaunchInvalidError => {
  try {
    parseLaunch(plain, ids);
  } catch (e) {
    return e as RunnerLaunchInvalidError;
  }
  throw new Error("parsed");
};

describe("the broker's sealed launch, opened (parseLaunch)", () => {
  it.each(brokerLaunches(secret))("accepts the broker's launch for any provider: $name", ({ launch }) => {
    expect(parseLaunch(JSON.stringify(launch), ids)).toEqual(launch);
  });

  it.each([
    ["not JSON", secret, /not JSON/],
    ["a JSON string", JSON.stringify(secret), /not a RunnerLaunch \(\(root\): invalid_type\)/],
    ["an empty argv", JSON.stringify({ argv: [], env: { T: secret }, user: "runner" }), /argv: too_small/],
    ["an unknown user", JSON.stringify({ argv: ["/x"], env: {}, user: secret }), /user: invalid_(enum_)?value/],
    ["a multi-line env value", JSON.stringify({ argv: ["/x"], env: { T: `${secret}\n` }, user: "root" }), /env\.T: invalid_(string|format)/],
    ["a bad env name", JSON.stringify({ argv: ["/x"], env: { "A-B": secret }, user: "root" }), /env\.A-B/],
    ["an argument with a newline", JSON.stringify({ argv: ["/bin/sh", `-c\n${secret}`], env: {}, user: "root" }), /argv\[1\] holds a newline/],
  ])("refuses %s: terminal, naming job and VM, never the plaintext", (_what, plain, why) => {
    const e = attempt(plain);
    expect(e).toBeInstanceOf(RunnerLaunchInvalidError);
    expect(e).toBeInstanceOf(TerminalError);
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(why);
    expect(e.message).toContain("job job-7 on VM k3j9x2ab");
    expect(`${e.message} ${JSON.stringify(e)} ${String(e.cause ?? "")}`).not.toContain(secret);
  });
});
