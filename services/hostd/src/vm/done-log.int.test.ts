import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DoneLog } from "./done-log.js";

describe("the done-VM journal (a real file)", () => {
  const dir = mkdtempSync(join(tmpdir(), "oneshot-done-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "done-vms");
  const now = new Date("2026-11-28T12:00:00Z");
  const p = { vmId: "abc", jobId: "loc-1", correlationId: "c", causationId: "e", removed: ["tap:os-abc"] };

  it("keeps a pending VmDestroyed across a restart until it is marked done, and a torn line does no harm", async () => {
    const a = new DoneLog(path);
    await a.load(now);
    await a.destroying(p);
    appendFileSync(path, 'P {"vmId":"tor'); // a crash mid-write
    const b = new DoneLog(path);
    await b.load(now);
    expect(b.pending()).toEqual([p]);
    expect(b.has("abc")).toBe(true);
    await b.add("abc", now);
    const c = new DoneLog(path);
    await c.load(now);
    expect(c.pending()).toEqual([]);
    expect(c.has("abc")).toBe(true);
    expect(readFileSync(path, "utf8")).not.toMatch(/^P /m);
  });

  it("forgets finished VMs after the keep window, and names no file after a VM", async () => {
    const later = new DoneLog(path);
    await later.load(new Date(now.getTime() + 8 * 24 * 3600 * 1000));
    expect(later.has("abc")).toBe(false);
    expect(readFileSync(path, "utf8")).toBe("");
  });
});
