import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing } from "@oneshot/testing";
import { exec, type Exec } from "../host/exec.js";
import { testNames } from "../testing/names.js";
import { Nft } from "./nft.js";
import { vmNetFor } from "./vm-address.js";

// The layer-2 half of the isolation rules, alone. This kernel runs br_netfilter, so bridged
// IPv4 also crosses the inet forward hook, where hostd's layer-3 rules drop VM ⇄ VM too; a
// host without br_netfilter has only the bridge-family rules. Here everything lives in a
// network namespace with bridge-nf-call-iptables=0, two more namespaces play the VMs (veth
// ports named like taps), and the same rules hostd installs are applied with `nft`.
const skip = missing("root", "nft");

function sh(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8" });
  return { ok: r.status === 0, out: r.stdout + r.stderr };
}

describe.skipIf(skip)("layer-2 VM isolation rules on their own (bridge family, br_netfilter off)", () => {
  const n = testNames("osl2");
  const host = `osl2h${n.suffix}`;
  const vms = ["a", "b"].map((x) => ({ ns: `osl2${x}${n.suffix}`, vmId: `l2${x}${n.suffix}` }));
  const inHost: Exec = (cmd, args, opts) => exec("ip", ["netns", "exec", host, cmd, ...args], opts);
  const nft = new Nft(inHost);
  const nets = vms.map((v, i) => vmNetFor(v.vmId, "10.77.0.0/24", `10.77.0.${i + 2}`, "10.77.0.1"));
  const ping = (from: string, to: string) => sh(["ip", "netns", "exec", from, "busybox", "ping", "-c", "1", "-W", "2", to]).ok;

  beforeAll(() => {
    sh(["ip", "netns", "add", host]);
    sh(["ip", "netns", "exec", host, "sh", "-c", "echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables"]);
    sh(["ip", "-n", host, "link", "add", "br0", "type", "bridge"]);
    sh(["ip", "-n", host, "link", "set", "br0", "up"]);
    vms.forEach((v, i) => {
      const net = nets[i]!;
      sh(["ip", "netns", "add", v.ns]);
      sh(["ip", "-n", host, "link", "add", net.tap, "type", "veth", "peer", "name", "eth0", "netns", v.ns]);
      sh(["ip", "-n", host, "link", "set", net.tap, "master", "br0", "up"]);
      sh(["ip", "-n", v.ns, "link", "set", "eth0", "address", net.mac, "up"]);
      sh(["ip", "-n", v.ns, "addr", "add", `${net.address}/24`, "dev", "eth0"]);
    });
  });
  afterAll(() => {
    for (const v of vms) sh(["ip", "netns", "del", v.ns]);
    sh(["ip", "netns", "del", host]);
  });

  it("control: without the rules the two ports talk", () => {
    expect(sh(["ip", "netns", "exec", host, "cat", "/proc/sys/net/bridge/bridge-nf-call-iptables"]).out.trim()).toBe("0");
    expect(ping(vms[0]!.ns, nets[1]!.address)).toBe(true);
  });

  it("with each VM's tagged rules, frames between the VMs are dropped, whichever side still has rules", async () => {
    await nft.ensureBase({ bridge: "br0", subnet: "10.77.0.0/24", dns: "10.77.0.1", forbidden: ["10.0.0.0/8"] });
    for (const [i, v] of vms.entries()) await nft.ensureVmRules("br0", { vmId: v.vmId, net: nets[i]!, bytesPerSec: 125_000_000 }, false);
    // The neighbour caches still hold each other's MACs: only the bridge rules stand in the way.
    expect(ping(vms[0]!.ns, nets[1]!.address)).toBe(false);
    expect(ping(vms[1]!.ns, nets[0]!.address)).toBe(false);
    // Without b's rules (b destroyed, a still there), a is still kept off b's port.
    await nft.removeVmRules(vms[1]!.vmId);
    expect(ping(vms[0]!.ns, nets[1]!.address)).toBe(false);
    await nft.removeVmRules(vms[0]!.vmId);
    expect(ping(vms[0]!.ns, nets[1]!.address)).toBe(true);
  });
});
