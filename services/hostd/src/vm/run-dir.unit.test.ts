import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { VmRecord } from "./run-dir.js";

// Records as hostd 0.1.0 wrote them (kind: `local` or the job's provider): a hostd restarted
// across the upgrade must read them, or it would leave their VMs to the janitor.
const fixtures = join(import.meta.dirname, "..", "..", "fixtures");
const legacy = readdirSync(fixtures).filter((f) => /^vm-record-0\.1\.0-.*\.json$/.test(f));
const read = (f: string) => JSON.parse(readFileSync(join(fixtures, f), "utf8")) as Record<string, unknown>;

describe("run-dir records across the provider-neutral upgrade", () => {
  it("has the 0.1.0 fixtures", () => expect(legacy.length).toBeGreaterThanOrEqual(3));

  it.each(legacy)("reads %s: `local` as a script launch, a provider's name as a runner launch", (f) => {
    const raw = read(f);
    const rec = VmRecord.parse(raw);
    expect(rec.kind).toBe(raw.kind === "local" ? "script" : "runner");
    expect(rec.script).toBe(raw.script);
    // Written back in the new form, it reads the same.
    expect(VmRecord.parse(JSON.parse(JSON.stringify(rec)))).toEqual(rec);
  });

  it("refuses a kind that no version wrote", () => {
    const raw = read(legacy[0]!);
    for (const kind of ["", "Script", "a b", 3]) expect(VmRecord.safeParse({ ...raw, kind }).success).toBe(false);
  });

  it("holds no launch: provider and runner name only, anything else dropped", () => {
    const raw = { ...read(legacy[0]!), kind: "runner", provider: "any", runnerName: "oneshot-metal-01-k3j9x2ab" };
    expect(VmRecord.parse(raw)).toMatchObject({ provider: "any", runnerName: "oneshot-metal-01-k3j9x2ab" });
    expect(VmRecord.parse({ ...raw, launch: { env: { T: "secret" } } })).not.toHaveProperty("launch");
  });
});
