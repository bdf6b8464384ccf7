import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing } from "@oneshot/testing";
import { testNames } from "../testing/names.js";
import { TapGuest, UdpSink, missingTapGuest, nsExec, sendUdp, sh } from "../testing/tap-guest.js";
import { Links } from "./links.js";
import { Nft } from "./nft.js";
import { mbitToBytesPerSec } from "./nft-rules.js";
import { vmNetFor } from "./vm-address.js";

// Forwarding-table poisoning, tried for real. The host side is hostd's own: a Linux bridge,
// taps made by Links.ensureTap, rules applied by Nft from nft-rules.ts. The guest side of each
// tap is held by a process doing what QEMU does with it (testing/tap-guest.ts), bridged into a
// network namespace whose kernel is the guest's — not a booted VM: two TCG guests take minutes
// here, and a guest's root can do nothing to its NIC that this namespace's root cannot (set
// any MAC, send any frame through a packet socket). Everything lives in namespaces of its own
// ("host" included, with bridge-nf-call-iptables=0 so only the bridge-family rules act), so
// nothing on this machine is touched.
//
// The attacker takes the neighbour's MAC and address, and floods gratuitous ARP from that MAC
// (100 frames/s through a packet socket); the host then sends 100 datagrams to the neighbour.
// Each guest counts what reaches its own UDP port.
const skip = missing("root", "nft") ?? missingTapGuest();

const SPOOFER = `
import socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
mac = bytes.fromhex(sys.argv[2].replace(":", ""))
ip = socket.inet_aton(sys.argv[3])
frame = b"\\xff" * 6 + mac + b"\\x08\\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + mac + ip + b"\\xff" * 6 + ip
print("spoofing", flush=True)
while True:
    s.send(frame)
    time.sleep(0.01)
`;

describe.skipIf(skip)("bridge forwarding-table poisoning, from a guest's side of real taps", () => {
  const n = testNames("osp");
  const host = `osp${n.suffix}h`;
  const hx = nsExec(host);
  const links = new Links(hx);
  const nft = new Nft(hx);
  const subnet = "10.77.0.0/24";
  const base = { bridge: "br0", subnet, dns: "10.77.0.1", forbidden: ["10.0.0.0/8"] };
  const [netN, netA] = ["n", "a"].map((x, i) => vmNetFor(`p${x}${n.suffix}`, subnet, `10.77.0.${i + 2}`, "10.77.0.1")) as [
    ReturnType<typeof vmNetFor>,
    ReturnType<typeof vmNetFor>,
  ];
  const isoN = { vmId: `pn${n.suffix}`, net: netN, bytesPerSec: mbitToBytesPerSec(1000) };
  const isoA = { vmId: `pa${n.suffix}`, net: netA, bytesPerSec: mbitToBytesPerSec(1000) };
  const neighbour = new TapGuest({ tap: netN.tap, hostNs: host, ns: `osp${n.suffix}n`, mac: netN.mac, cidr: `${netN.address}/24`, gateway: "10.77.0.1" });
  const attacker = new TapGuest({ tap: netA.tap, hostNs: host, ns: `osp${n.suffix}a`, mac: netA.mac, cidr: `${netA.address}/24`, gateway: "10.77.0.1" });
  const sinkN = new UdpSink(neighbour.o.ns, 7000);
  const sinkA = new UdpSink(attacker.o.ns, 7000);
  const dir = mkdtempSync(join(tmpdir(), "oneshot-l2p-"));
  let spoofer: ChildProcess | undefined;
  let round = 0;

  /** The neighbour speaks once (so a learning bridge knows its port), the attacker poisons, the host sends 100 datagrams to the neighbour. */
  async function trafficToNeighbour(): Promise<{ neighbour: number; attacker: number }> {
    const tag = `r${++round}`;
    neighbour.run(["busybox", "ping", "-c", "1", "-W", "1", "10.77.0.1"]);
    await new Promise((r) => setTimeout(r, 300)); // the spoofer has sent ~30 frames since
    sendUdp({ ns: host, to: netN.address, port: 7000, tag, n: 100 });
    await new Promise((r) => setTimeout(r, 300));
    return { neighbour: sinkN.count(`${tag}-`), attacker: sinkA.count(`${tag}-`) };
  }

  const fdbOf = (mac: string) =>
    sh(["ip", "netns", "exec", host, "bridge", "fdb", "show", "br", "br0"])
      .out.split("\n")
      .filter((l) => l.startsWith(mac))
      .join("; ");

  beforeAll(async () => {
    sh(["ip", "netns", "add", host]);
    sh(["ip", "netns", "exec", host, "sh", "-c", "echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null; true"]);
    await links.ensureBridge("br0", "10.77.0.1/24");
    // As hostd made taps before this change: a learning, flooding bridge port.
    await links.ensureTap(netN.tap, "br0");
    await links.ensureTap(netA.tap, "br0");
    await neighbour.start();
    await attacker.start();
    // The host knows the neighbour's MAC (no ARP race between the two guests).
    sh(["ip", "-n", host, "neigh", "replace", netN.address, "lladdr", netN.mac, "dev", "br0", "nud", "permanent"]);
    await sinkN.start();
    // The attacker wears the neighbour's MAC and address, so whatever reaches it for the neighbour lands in its sink.
    attacker.run(["ip", "link", "set", "eth0", "address", netN.mac]);
    attacker.run(["ip", "addr", "add", `${netN.address}/32`, "dev", "eth0"]);
    await sinkA.start();
    writeFileSync(join(dir, "spoof.py"), SPOOFER);
    spoofer = spawn("ip", ["netns", "exec", attacker.o.ns, "python3", join(dir, "spoof.py"), "eth0", netN.mac, netN.address], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((r) => spoofer!.stdout!.once("data", () => r()));
  }, 60_000);

  afterAll(async () => {
    spoofer?.kill("SIGKILL");
    await sinkN.stop();
    await sinkA.stop();
    await neighbour.stop();
    await attacker.stop();
    sh(["ip", "netns", "del", host]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("control: on a learning bridge with rules after learning, the attacker captures the neighbour's traffic", async () => {
    const r = await trafficToNeighbour();
    process.stderr.write(`POISONING control: of 100 datagrams for the neighbour, attacker got ${r.attacker}, neighbour ${r.neighbour}\n`);
    expect(fdbOf(netN.mac)).toContain(`dev ${netA.tap}`);
    expect(r.attacker).toBeGreaterThan(50);
  });

  it("prerouting rules alone (learning still on): the spoofed frames never reach the forwarding table", async () => {
    await nft.ensureBase(base);
    await nft.ensureVmRules("br0", isoN, false);
    await nft.ensureVmRules("br0", isoA, false);
    const r = await trafficToNeighbour();
    expect(fdbOf(netN.mac)).not.toContain(`dev ${netA.tap}`);
    expect(r).toEqual({ neighbour: 100, attacker: 0 });
  });

  it("port pinning alone (no nft rules): learning off, a static entry, no unknown-unicast flooding", async () => {
    await nft.removeVmRules(isoN.vmId);
    await nft.removeVmRules(isoA.vmId);
    expect(await links.ensureTap(netN.tap, "br0", netN.mac)).toEqual(["learning off", `fdb ${netN.mac}`]);
    expect(await links.ensureTap(netA.tap, "br0", netA.mac)).toEqual(["learning off", `fdb ${netA.mac}`]);
    expect(await links.get(netA.tap)).toMatchObject({ learning: false, flood: false, mcastFlood: false, isolated: true });
    // `fdb replace` moved the neighbour's MAC, wherever it had been learned, to a static entry on its own port.
    const r = await trafficToNeighbour();
    expect(fdbOf(netN.mac)).toMatch(new RegExp(`dev ${netN.tap} .*master br0 static`));
    expect(r).toEqual({ neighbour: 100, attacker: 0 });

    // With no entry at all the frame is unknown unicast: flooded to no VM port.
    sh(["ip", "netns", "exec", host, "bridge", "fdb", "del", netN.mac, "dev", netN.tap, "master", "static"]);
    const unknown = await trafficToNeighbour();
    expect(unknown.attacker).toBe(0);
    expect(await links.ensureTap(netN.tap, "br0", netN.mac)).toEqual([`fdb ${netN.mac}`]);
  });

  it("the egress check: frames forwarded to the attacker's tap for another MAC are dropped on the way out", async () => {
    await nft.ensureVmRules("br0", isoN, false);
    await nft.ensureVmRules("br0", isoA, false);
    // However the table came to point the neighbour's MAC at the attacker's port.
    sh(["ip", "netns", "exec", host, "bridge", "fdb", "replace", netN.mac, "dev", netA.tap, "master", "static"]);
    const r = await trafficToNeighbour();
    expect(r.attacker).toBe(0);
    // hostd's next ensureTap pins it back, and the neighbour gets its traffic again.
    expect(await links.ensureTap(netN.tap, "br0", netN.mac)).toEqual([`fdb ${netN.mac}`]);
    const again = await trafficToNeighbour();
    expect(again).toEqual({ neighbour: 100, attacker: 0 });
  });
});
