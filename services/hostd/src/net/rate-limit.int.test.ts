import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing } from "@oneshot/testing";
import { testNames } from "../testing/names.js";
import { TapGuest, floodUdp, inNs, missingTapGuest, nsExec, sh } from "../testing/tap-guest.js";
import { Links } from "./links.js";
import { Nft } from "./nft.js";
import { mbitToBytesPerSec } from "./nft-rules.js";
import { vmNetFor } from "./vm-address.js";

// Per-VM and shared rate limits, measured: real taps on hostd's bridge with hostd's rules, in
// a namespace of their own; the guest side of each tap floods as fast as it can (UDP, which
// does not slow down by itself) and the bytes that got through are counted by the kernel on
// the far side over the whole flood. Ratios are asserted loosely (0.5-1.5 of the configured
// rate): what matters is that a flood many times the rate comes out at about the rate.
const skip = missing("root", "nft") ?? missingTapGuest();
const FLOOD_MS = 4000;
/** Measured from 500 ms into the flood (the bucket's initial burst is spent by then), for 3 s. */
const WINDOW_MS = 3000;
const RATE_MBIT = 4;

describe.skipIf(skip)("VM network rate limits (real taps, nft limits, floods from both sides)", () => {
  const n = testNames("osr");
  const host = `osr${n.suffix}h`;
  const hx = nsExec(host);
  const links = new Links(hx);
  const nft = new Nft(hx);
  const subnet = "10.79.0.0/24";
  const base = { bridge: "br0", subnet, dns: "10.79.0.1", forbidden: ["10.0.0.0/8"] };
  const vms = [2, 3].map((i) => {
    const vmId = `r${i}${n.suffix}`;
    const net = vmNetFor(vmId, subnet, `10.79.0.${i}`, "10.79.0.1");
    return {
      iso: { vmId, net, bytesPerSec: mbitToBytesPerSec(RATE_MBIT) },
      guest: new TapGuest({ tap: net.tap, hostNs: host, ns: `osr${n.suffix}${i}`, mac: net.mac, cidr: `${net.address}/24`, gateway: "10.79.0.1" }),
    };
  });
  const bridgeRx = () => Number(inNs(host, ["cat", "/sys/class/net/br0/statistics/rx_bytes"]).out.trim());
  const rate = mbitToBytesPerSec(RATE_MBIT);
  /** Starts the floods, and reads `passed()` (and `offered()`) over a window inside them: bytes per second. */
  async function measure(floods: ReturnType<typeof floodUdp>[], passed: () => number, offered: () => number): Promise<{ passed: number; offered: number }> {
    await Promise.all(floods.map((f) => f.started));
    await new Promise((r) => setTimeout(r, 500));
    const [p0, o0, t0] = [passed(), offered(), performance.now()];
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const [p1, o1, t1] = [passed(), offered(), performance.now()];
    await Promise.all(floods.map((f) => f.done));
    const secs = (t1 - t0) / 1000;
    return { passed: (p1 - p0) / secs, offered: (o1 - o0) / secs };
  }
  const report = (what: string, passedPerSec: number, offeredPerSec: number) =>
    process.stderr.write(
      `RATE ${what}: configured ${rate} B/s, passed ${Math.round(passedPerSec)} B/s (${(passedPerSec / rate).toFixed(2)}x), offered ${Math.round(offeredPerSec)} B/s (${(offeredPerSec / rate).toFixed(1)}x)\n`,
    );

  beforeAll(async () => {
    sh(["ip", "netns", "add", host]);
    await links.ensureBridge("br0", "10.79.0.1/24");
    for (const v of vms) {
      await links.ensureTap(v.iso.net.tap, "br0", v.iso.net.mac);
      await v.guest.start();
    }
    await nft.ensureAll(
      base,
      vms.map((v) => v.iso),
    );
  }, 60_000);

  afterAll(async () => {
    for (const v of vms) await v.guest.stop();
    sh(["ip", "netns", "del", host]);
  });

  it("a flood out of a VM passes at the VM's rate", async () => {
    const g = vms[0]!.guest;
    const r = await measure([floodUdp({ ns: g.o.ns, to: "10.79.0.1", port: 9, ms: FLOOD_MS })], bridgeRx, () => g.counters().tx);
    report("out of one VM", r.passed, r.offered);
    expect(r.offered / rate).toBeGreaterThan(2);
    expect(r.passed / rate).toBeGreaterThan(0.5);
    expect(r.passed / rate).toBeLessThan(1.5);
  });

  it("a flood into a VM reaches it at the VM's rate", async () => {
    const g = vms[0]!.guest;
    const ip = g.o.cidr.split("/")[0]!;
    inNs(host, ["busybox", "ping", "-c", "1", "-W", "1", ip]); // ARP first
    const txOfBridge = () => Number(inNs(host, ["cat", "/sys/class/net/br0/statistics/tx_bytes"]).out.trim());
    const r = await measure([floodUdp({ ns: host, to: ip, port: 9, ms: FLOOD_MS })], () => g.counters().rx, txOfBridge);
    report("into one VM", r.passed, r.offered);
    expect(r.offered / rate).toBeGreaterThan(2);
    expect(r.passed / rate).toBeGreaterThan(0.5);
    expect(r.passed / rate).toBeLessThan(1.5);
  });

  it("two VMs flooding at once share the host's total instead of getting their rate each", async () => {
    // Total = one VM's rate: without the shared limit the two would pass about 2x.
    const rebuilt = await nft.ensureAll(
      { ...base, totalBytesPerSec: rate },
      vms.map((v) => v.iso),
    );
    expect(rebuilt.base).toBe("rebuilt");
    const offered = () => vms.reduce((sum, v) => sum + v.guest.counters().tx, 0);
    const r = await measure(
      vms.map((v) => floodUdp({ ns: v.guest.o.ns, to: "10.79.0.1", port: 9, ms: FLOOD_MS })),
      bridgeRx,
      offered,
    );
    report("out of two VMs, total = one VM's rate", r.passed, r.offered);
    expect(r.offered / rate).toBeGreaterThan(2);
    expect(r.passed / rate).toBeGreaterThan(0.5);
    expect(r.passed / rate).toBeLessThan(1.5);
  });
});
