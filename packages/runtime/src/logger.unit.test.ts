import { Writable } from "node:stream";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { redactPaths } from "./logger.js";

describe("log redaction", () => {
  it("never writes a local job's script, a launch or its environment, whatever the nesting", () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) });
    const log = pino({ redact: { paths: redactPaths, censor: "[redacted]" } }, sink);
    log.info(
      { script: "curl -H 'Authorization: hunter2' …", job: { script: "echo s3cret" }, launch: { env: { ACTIONS_RUNNER_INPUT_JITCONFIG: "jit-xyz" } } },
      "placement",
    );
    const text = lines.join("");
    for (const secret of ["hunter2", "s3cret", "jit-xyz"]) expect(text).not.toContain(secret);
    expect(text).toContain("[redacted]");
  });
});
