import { chmodSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadOrCreateHostKey } from "./host-key.js";

describe("host key file", () => {
  const dir = mkdtempSync(join(tmpdir(), "oneshot-hostd-key-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "hostd", "host-key.pem");

  it("is created at first start as a 0600 file in a 0700 directory, and the same key is loaded after", async () => {
    const first = await loadOrCreateHostKey(path);
    expect(first.created).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "hostd")).mode & 0o777).toBe(0o700);
    const again = await loadOrCreateHostKey(path);
    expect(again).toMatchObject({ created: false, tightened: false, publicKey: first.publicKey });
  });

  it("is tightened back to 0600 when someone loosened it", async () => {
    chmodSync(path, 0o644);
    expect((await loadOrCreateHostKey(path)).tightened).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });
});
