import { afterAll, describe, expect, it } from "vitest";
import { missing } from "@oneshot/testing";
import { exec } from "../host/exec.js";
import { testNames } from "../testing/names.js";
import { ensureHostNetwork } from "./host-network.js";
import { Links } from "./links.js";
import { Nft } from "./nft.js";
import { tableName, vmRuleCount } from "./nft-rules.js";
import { vmNetFor } from "./vm-address.js";

// Real bridge, tap and nftables on this machine (as root), under names unique to this run.
const skip = missing("root", "nft");

describe.skipIf(skip)("host network steps (real bridge, tap, nftables)", () => {
  const n = testNames("osnt");
  const links = new Links(exec);
  const nft = new Nft(exec);
  const vmId = `nt${n.suffix}`;
  const net = vmNetFor(vmId, n.subnet, n.subnet.replace(/0\/24$/, "9"), "10.0.0.2");
  const iso = { vmId, net, bytesPerSec: 25_000_000 };
  const VM_RULE_COUNT = vmRuleCount(false);

  afterAll(async () => {
    await nft.removeVmRules(vmId).catch(() => undefined);
    await links.remove(net.tap).catch(() => undefined);
    await nft.removeBase(n.bridge).catch(() => undefined);
    await links.remove(n.bridge).catch(() => undefined);
  });

  it("sets up bridge, forwarding and base tables once, and changes nothing the second time", async () => {
    const first = await ensureHostNetwork({ exec, links, nft, bridge: n.bridge, subnet: n.subnet, dns: "10.0.0.2" });
    expect(first.bridge).toContain("created");
    expect(first.rules).toBe("rebuilt");
    expect(first.forbidden).toContain("169.254.0.0/16");
    const again = await ensureHostNetwork({ exec, links, nft, bridge: n.bridge, subnet: n.subnet, dns: "10.0.0.2" });
    expect(again).toMatchObject({ bridge: [], rules: "unchanged" });
    const br = await links.get(n.bridge);
    expect(br).toMatchObject({ kind: "bridge", up: true, addresses: [n.subnet.replace(/0\/24$/, "1/24")] });
    const { tables } = await nft.ruleset();
    expect(
      tables
        .filter((t) => t.name === tableName(n.bridge))
        .map((t) => t.family)
        .sort(),
    ).toEqual(["bridge", "inet"]);
  });

  it("refuses a subnet that another interface already uses", async () => {
    await expect(ensureHostNetwork({ exec, links, nft, bridge: `${n.bridge}x`.slice(0, 15), subnet: n.subnet, dns: "10.0.0.2" })).rejects.toThrow(/overlaps/);
  });

  it("creates a VM's isolated tap and tagged rules idempotently, and removes them by tag", async () => {
    expect(await links.ensureTap(net.tap, n.bridge, net.mac)).toEqual(["created", `master ${n.bridge}`, "isolated", "learning off", `fdb ${net.mac}`, "up"]);
    expect(await links.ensureTap(net.tap, n.bridge, net.mac)).toEqual([]);
    expect(await links.get(net.tap)).toMatchObject({ master: n.bridge, isolated: true, kind: "tun", learning: false, flood: false, mcastFlood: false });
    expect(await links.fdb(n.bridge)).toContainEqual({ mac: net.mac, ifname: net.tap, state: "static", sticky: true });
    expect(await nft.ensureVmRules(n.bridge, iso, false)).toBe("added");
    expect(await nft.ensureVmRules(n.bridge, iso, false)).toBe("present");
    expect(await nft.vmComments(n.bridge)).toEqual([`oneshot:${vmId}`]);
    const tagged = (await nft.ruleset()).rules.filter((r) => r.comment === `oneshot:${vmId}`);
    expect(tagged).toHaveLength(VM_RULE_COUNT);

    // A half-written set (a crash mid-way) is replaced by a whole one.
    await exec("nft", ["delete", "rule", tagged[0]!.family, tagged[0]!.table, tagged[0]!.chain, "handle", String(tagged[0]!.handle)]);
    expect(await nft.ensureVmRules(n.bridge, iso, false)).toBe("added");
    expect((await nft.ruleset()).rules.filter((r) => r.comment === `oneshot:${vmId}`)).toHaveLength(VM_RULE_COUNT);

    expect(await nft.removeVmRules(vmId)).toBe(VM_RULE_COUNT);
    expect(await nft.removeVmRules(vmId)).toBe(0);
    expect(await links.remove(net.tap)).toBe(true);
    expect(await links.remove(net.tap)).toBe(false);
    expect((await exec("nft", ["list", "ruleset"])).stdout).not.toContain(`oneshot:${vmId}`);
  });
});
