import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

// docs/runner-model.md "Runner launch": below ingest nothing branches on a CI provider. The
// names live in fixtures/ (outside src/); a comment may still say "any provider". The
// minimal image's stand-in runner is not scanned: it stands in for a provider's runner, which
// is the provider side of the launch (the real runners in the full image name theirs too).
const hostd = join(import.meta.dirname, "..");
const repo = join(hostd, "..", "..");
const names = JSON.parse(readFileSync(join(hostd, "fixtures", "provider-names.json"), "utf8")) as string[];
const files = (dir: string): string[] => readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]));

describe("hostd, the config drive and the guest agent name no CI provider", () => {
  const standIn = join(repo, "images", "agent", "stand-in-runner");
  it.each([join(hostd, "src"), join(repo, "images", "agent")])("%s", (dir) => {
    const pattern = new RegExp(names.join("|"), "i");
    const hits = files(dir)
      .filter((f) => f !== standIn)
      .flatMap((f) =>
        readFileSync(f, "utf8")
          .split("\n")
          .map((line, i) => ({ f, i, line })),
      )
      .filter(({ line }) => pattern.test(line) && !/any provider/i.test(line))
      .map(({ f, i, line }) => `${relative(repo, f)}:${i + 1}: ${line.trim()}`);
    expect(names.length).toBeGreaterThan(0);
    expect(hits).toEqual([]);
  });
});
