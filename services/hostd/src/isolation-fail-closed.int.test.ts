import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing, waitFor } from "@oneshot/testing";
import { tableName, vmRuleCount } from "./net/nft-rules.js";
import { HostdHarness, missingImage } from "./testing/hostd-harness.js";

// Fail closed, with the real hostd process and a real QEMU guest running a job. This machine's
// ruleset is shared by every test and service running here, so instead of `nft flush ruleset`
// (net/isolation-guard.int.test.ts does exactly that, in a namespace of its own) the test
// deletes hostd's own two tables — for hostd the same loss. To make restoring fail, hostd gets
// an `nft` first on its PATH that refuses every change (`nft -f`) while a flag file exists and
// otherwise is the real nft.
const skip = missing("nats", "root", "qemu-x86", "nft") ?? missingImage("amd64");
const T = 300_000;

describe.skipIf(skip)("isolation fails closed (real hostd, QEMU guest, nftables)", () => {
  const shim = mkdtempSync(join(tmpdir(), "oneshot-nftshim-"));
  const flag = join(shim, "refuse");
  const realNft = spawnSync("sh", ["-c", "command -v nft"], { encoding: "utf8" }).stdout.trim();
  const h = new HostdHarness({
    HOSTD_MAX_VCPUS: "2",
    HOSTD_MAX_MEM_MIB: "2048",
    HOSTD_ISOLATION_CHECK_INTERVAL: "1",
    PATH: `${shim}:${process.env.PATH}`,
  });
  const t = tableName(h.names.bridge);
  const ours = () => spawnSync(realNft, ["list", "ruleset"], { encoding: "utf8" }).stdout;
  const deleteTables = () => {
    for (const family of ["bridge", "inet"]) spawnSync(realNft, ["delete", "table", family, t]);
  };

  beforeAll(async () => {
    writeFileSync(
      join(shim, "nft"),
      `#!/bin/sh\nif [ -e '${flag}' ] && [ "$1" = "-f" ]; then echo "Error: refused by the test" >&2; exit 1; fi\nexec '${realNft}' "$@"\n`,
    );
    chmodSync(join(shim, "nft"), 0o755);
    await h.start();
  }, T);
  afterAll(async () => {
    rmSync(flag, { force: true });
    await h.dispose();
    rmSync(shim, { recursive: true, force: true });
  }, T);

  it(
    "hostd's tables deleted under a running job come back within the check interval, with the VM's rules",
    async () => {
      // The job asks for 40 Mbit/s (a `net-40mbit` label ends up as spec.netMbit): its tap's limits say 5,000,000 bytes/s.
      const { vmId } = await h.schedule({ script: "echo job-running; sleep 600\n", spec: { netMbit: 40 } });
      await h.waitEvent("VmBooted", vmId, T);
      const rules = () => (ours().match(new RegExp(`comment "oneshot:${vmId}"`, "g")) ?? []).length;
      expect(rules()).toBe(vmRuleCount(true));
      expect(ours()).toContain(`iifname "os-${vmId}" limit rate over 5000000 bytes/second`);
      expect(ours()).toContain(`oifname "os-${vmId}" limit rate over 5000000 bytes/second`);
      deleteTables();
      expect(ours()).not.toContain(`table inet ${t}`);
      const gone = performance.now();
      await waitFor("tables and VM rules restored", () => ours().includes(`table inet ${t}`) && rules() === vmRuleCount(true), 15_000, 50);
      const back = Math.round(performance.now() - gone);
      process.stderr.write(`FAILCLOSED restored ${back} ms after the tables were deleted (check interval 1 s)\n`);
      expect(h.logs).toMatch(/isolation rules were missing or altered: restored/);
      expect(h.vmEvents(vmId).map((e) => e.type)).toEqual(["VmBootRequested", "VmBooted"]);

      // Now restoring fails: the VM must not keep running unisolated.
      writeFileSync(flag, "");
      deleteTables();
      const lost = await h.waitEvent("VmIsolationLost", vmId, 30_000);
      expect(lost.data).toMatchObject({ vmId, hostId: h.hostId, action: "killed" });
      expect(lost.data.reason).toMatch(/refused by the test/);
      const exited = await h.waitEvent("VmExited", vmId, 60_000);
      expect(exited.data).toMatchObject({ reason: "killed", exitCode: null });
      const killedAfter = Math.round(Date.parse(exited.occurredAt) - Date.parse(lost.occurredAt));
      process.stderr.write(`FAILCLOSED VmExited ${killedAfter} ms after VmIsolationLost\n`);
      rmSync(flag, { force: true });
      await h.waitEvent("VmDestroyed", vmId, 60_000);
      expect(h.leftovers(vmId)).toEqual([]);
    },
    T,
  );
});
