import { describe, expect, it } from "vitest";
import { forbiddenSet, hostNetworks } from "./forbidden.js";
import { cidrContains, intToIp, ipToInt, parseCidr } from "./ipv4.js";
import { pickDns } from "./dns.js";
import { allocateAddress, gatewayOf, macFor, vmNetFor } from "./vm-address.js";

const ipAddrJson = JSON.stringify([
  { ifname: "lo", addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8 }] },
  {
    ifname: "eth0",
    addr_info: [
      { family: "inet", local: "203.0.113.7", prefixlen: 24 },
      { family: "inet6", local: "fe80::1", prefixlen: 64 },
    ],
  },
  { ifname: "osbr0", addr_info: [{ family: "inet", local: "172.30.0.1", prefixlen: 16 }] },
]);

describe("IPv4 arithmetic", () => {
  it("round-trips addresses and masks networks", () => {
    expect(intToIp(ipToInt("172.30.255.254"))).toBe("172.30.255.254");
    expect(parseCidr("172.30.9.9/16")).toEqual({ network: ipToInt("172.30.0.0"), prefix: 16 });
    expect(cidrContains(parseCidr("169.254.0.0/16"), "169.254.169.254")).toBe(true);
    expect(cidrContains(parseCidr("10.0.0.0/8"), "11.0.0.1")).toBe(false);
    expect(() => ipToInt("1.2.3.256")).toThrow();
  });
});

describe("the forbidden set", () => {
  it("has every address and connected network of the host", () => {
    expect(hostNetworks(ipAddrJson)).toEqual(["127.0.0.1/32", "127.0.0.0/8", "203.0.113.7/32", "203.0.113.0/24", "172.30.0.1/32", "172.30.0.0/16"]);
  });

  it("covers metadata, RFC1918, CGNAT, link-local, loopback and the host's public network, without overlaps", () => {
    const set = forbiddenSet(hostNetworks(ipAddrJson));
    const covered = (ip: string) => set.some((e) => cidrContains(parseCidr(e.includes("/") ? e : `${e}/32`), ip));
    for (const ip of [
      "169.254.169.254",
      "10.1.2.3",
      "172.16.0.1",
      "172.30.0.1",
      "192.168.1.1",
      "100.64.0.1",
      "127.0.0.53",
      "203.0.113.7",
      "203.0.113.99",
      "224.0.0.251",
    ]) {
      expect(covered(ip), ip).toBe(true);
    }
    for (const ip of ["1.1.1.1", "8.8.8.8", "198.51.100.10"]) expect(covered(ip), ip).toBe(false);
    // nft rejects overlapping interval elements: nothing may sit inside a wider entry.
    const cidrs = set.map((e) => parseCidr(e.includes("/") ? e : `${e}/32`));
    for (const a of cidrs) for (const b of cidrs) if (a !== b) expect(a.prefix <= b.prefix && cidrContains(a, b.network)).toBe(false);
  });
});

describe("guest addresses", () => {
  it("gives the gateway the first address and guests the lowest free one after it", () => {
    expect(gatewayOf("172.30.0.0/16")).toEqual({ address: "172.30.0.1", prefix: 16 });
    expect(allocateAddress("172.30.0.0/16", new Set())).toBe("172.30.0.2");
    expect(allocateAddress("172.30.0.0/16", new Set(["172.30.0.2", "172.30.0.4"]))).toBe("172.30.0.3");
  });

  it("never hands out the broadcast address and says when the subnet is full", () => {
    expect(allocateAddress("10.9.0.0/29", new Set(["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5"]))).toBe("10.9.0.6");
    expect(allocateAddress("10.9.0.0/29", new Set(["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"]))).toBeUndefined();
  });

  it("derives a locally administered unicast MAC from the address", () => {
    expect(macFor("172.30.1.2")).toBe("02:05:ac:1e:01:02");
    expect(vmNetFor("abc", "172.30.0.0/16", "172.30.0.9", "9.9.9.9")).toEqual({
      tap: "os-abc",
      mac: "02:05:ac:1e:00:09",
      address: "172.30.0.9",
      prefix: 16,
      gateway: "172.30.0.1",
      dns: "9.9.9.9",
    });
  });
});

describe("guest DNS", () => {
  it("skips loopback stubs and falls back to a public resolver", () => {
    expect(pickDns(["nameserver 127.0.0.53\n", "nameserver 10.0.0.2\nnameserver 10.0.0.3\n"])).toBe("10.0.0.2");
    expect(pickDns(["# none\n"])).toBe("1.1.1.1");
  });
});
