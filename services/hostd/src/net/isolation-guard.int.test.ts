import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "@oneshot/runtime";
import { missing } from "@oneshot/testing";
import type { Exec } from "../host/exec.js";
import { testNames } from "../testing/names.js";
import { TapGuest, UdpSink, inNs, missingTapGuest, nsExec, sendUdp, sh } from "../testing/tap-guest.js";
import { readForbidden } from "./host-network.js";
import { IsolationGuard } from "./isolation-guard.js";
import { Links } from "./links.js";
import { Nft } from "./nft.js";
import { mbitToBytesPerSec, tableName, vmRuleCount } from "./nft-rules.js";
import { vmNetFor } from "./vm-address.js";

// The isolation guard against the real kernel: a network namespace is "the host" (so that
// `nft flush ruleset` and new interfaces touch nothing else on this machine), with hostd's
// bridge, a real tap whose guest side is held like QEMU holds it (testing/tap-guest.ts),
// nft and iproute2 run by the same code hostd runs. A second namespace is a peer the host
// gets a link to later (a VPN coming up): its own address, and a network routed behind it.
const skip = missing("root", "nft") ?? missingTapGuest();

describe.skipIf(skip)("the isolation guard: forbidden set follows the host, a flush is undone, what cannot be undone is killed", () => {
  const n = testNames("osg");
  const host = `osg${n.suffix}h`;
  const peer = `osg${n.suffix}p`;
  const subnet = "10.78.0.0/24";
  let nftBroken = false;
  const hx = nsExec(host);
  // Fault injection for the last test: `nft -f` (every change) fails as if nft refused it; reads still work.
  const faulty: Exec = (cmd, args, o) =>
    nftBroken && cmd === "nft" && args[0] === "-f" ? Promise.resolve({ code: 1, stdout: "", stderr: "Error: injected failure" }) : hx(cmd, args, o);
  const links = new Links(hx);
  const nft = new Nft(faulty);
  const vmId = `g${n.suffix}`;
  const net = vmNetFor(vmId, subnet, "10.78.0.2", "10.78.0.1");
  const vm = { vmId, net, bytesPerSec: mbitToBytesPerSec(1000) };
  const guest = new TapGuest({ tap: net.tap, hostNs: host, ns: `osg${n.suffix}g`, mac: net.mac, cidr: `${net.address}/24`, gateway: "10.78.0.1" });
  const sink = new UdpSink(peer, 7001);
  const killed: string[][] = [];
  let running = [vm];
  const guard = new IsolationGuard({
    nft,
    log: createLogger("test", { level: "silent" }),
    base: { bridge: "br0", subnet, dns: "10.78.0.1" },
    initialForbidden: [],
    readForbidden: () => readForbidden({ exec: hx, bridge: "br0" }),
    vms: () => running,
    failClosed: async (reason) => {
      killed.push([reason, ...running.map((v) => v.vmId)]);
      const ids = running.map((v) => v.vmId);
      running = [];
      return ids;
    },
  });
  let round = 0;
  /** Datagrams from the guest to `to` that the peer received. */
  const reach = async (to: string): Promise<number> => {
    const tag = `g${++round}`;
    sendUdp({ ns: guest.o.ns, to, port: 7001, tag, n: 20, gapMs: 1 });
    await new Promise((r) => setTimeout(r, 300));
    return sink.count(`${tag}-`);
  };

  beforeAll(async () => {
    sh(["ip", "netns", "add", host]);
    inNs(host, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    await links.ensureBridge("br0", "10.78.0.1/24");
    await links.ensureTap(net.tap, "br0", net.mac);
    await guest.start();
    const first = await guard.check();
    expect(first.base).toBe("rebuilt");
  }, 60_000);

  afterAll(async () => {
    await sink.stop();
    await guest.stop();
    sh(["ip", "netns", "del", peer]);
    sh(["ip", "netns", "del", host]);
  });

  it("a link and a routed network that appear later are reachable until the next check, and forbidden after it", async () => {
    // The peer comes up: 203.0.113.0/30 between the two, 203.0.113.128/25 behind the peer; and a NIC with an address of its own.
    sh(["ip", "netns", "add", peer]);
    sh(["ip", "-n", host, "link", "add", `vp${n.suffix}`, "type", "veth", "peer", "name", "eth0", "netns", peer]);
    sh(["ip", "-n", host, "addr", "add", "203.0.113.1/30", "dev", `vp${n.suffix}`]);
    sh(["ip", "-n", host, "link", "set", `vp${n.suffix}`, "up"]);
    sh(["ip", "-n", peer, "addr", "add", "203.0.113.2/30", "dev", "eth0"]);
    sh(["ip", "-n", peer, "addr", "add", "203.0.113.200/32", "dev", "lo"]);
    sh(["ip", "-n", peer, "link", "set", "eth0", "up"]);
    sh(["ip", "-n", peer, "link", "set", "lo", "up"]);
    sh(["ip", "-n", host, "route", "add", "203.0.113.128/25", "via", "203.0.113.2"]);
    // A NIC with an address of its own: `dummy` where the kernel has it (this one has not), else `ifb`.
    if (!sh(["ip", "-n", host, "link", "add", `dm${n.suffix}`, "type", "dummy"]).ok) sh(["ip", "-n", host, "link", "add", `dm${n.suffix}`, "type", "ifb"]);
    sh(["ip", "-n", host, "addr", "add", "198.51.100.9/32", "dev", `dm${n.suffix}`]);
    sh(["ip", "-n", host, "link", "set", `dm${n.suffix}`, "up"]);
    await sink.start();

    // Control: with the set read at start, the guest reaches both (forwarded, masqueraded).
    expect(await reach("203.0.113.2")).toBeGreaterThan(15);
    expect(await reach("203.0.113.200")).toBeGreaterThan(15);

    const r = await guard.check();
    expect(r.forbidden.added).toEqual(expect.arrayContaining(["203.0.113.0/30", "203.0.113.128/25", "198.51.100.9"]));
    expect(r.base).toBe("rebuilt");
    expect(r.failedClosed).toBeUndefined();
    expect(await reach("203.0.113.2")).toBe(0);
    expect(await reach("203.0.113.200")).toBe(0);
    expect(inNs(host, ["nft", "list", "set", "inet", tableName("br0"), "forbidden"]).out).toContain("198.51.100.9");

    // Nothing changed since: the next check measures and leaves everything as it is.
    expect(await guard.check()).toMatchObject({ forbidden: { added: [], removed: [] }, base: "unchanged", restored: [] });
  });

  it("`nft flush ruleset` is undone by the next check, the VM's rules with the tables", async () => {
    expect(inNs(host, ["nft", "flush", "ruleset"]).ok).toBe(true);
    expect(inNs(host, ["nft", "list", "ruleset"]).out.trim()).toBe("");
    const r = await guard.check();
    expect(r).toMatchObject({ base: "rebuilt", restored: [vmId] });
    const listed = inNs(host, ["nft", "list", "ruleset"]).out;
    expect(listed.match(new RegExp(`comment "oneshot:${vmId}"`, "g"))).toHaveLength(vmRuleCount(false));
    expect(await reach("203.0.113.200")).toBe(0);
    expect(killed).toEqual([]);
  });

  it("when the rules cannot be put back, the VMs are ended (fail closed) and the reason names nft's refusal", async () => {
    nftBroken = true;
    inNs(host, ["nft", "flush", "ruleset"]);
    const r = await guard.check();
    expect(r.failedClosed?.vms).toEqual([vmId]);
    expect(r.failedClosed?.reason).toMatch(/cannot restore isolation rules: .*injected failure/);
    expect(killed).toHaveLength(1);
    nftBroken = false;
    // Nothing left to isolate; the next check rebuilds the tables for the VMs to come.
    expect(await guard.check()).toMatchObject({ base: "rebuilt", restored: [] });
  });
});
