import { createServer, get, type Server } from "node:http";
import { randomInt } from "node:crypto";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, missing, waitFor } from "@oneshot/testing";
import { FakeInternet } from "./testing/fake-internet.js";
import { HostdHarness, missingImage } from "./testing/hostd-harness.js";
import { gatewayOf } from "./net/vm-address.js";

// Network isolation seen from INSIDE real guests. This machine reaches only a few package
// registries, so a network namespace plays "the internet" (testing/fake-internet.ts); every
// target is first shown to answer from the host itself, so a "closed" from a guest can only
// come from hostd's rules.
const skip = missing("nats", "root", "qemu-x86", "nft") ?? missingImage("amd64");
const T = 300_000;

/** Guest script: one `PROBE <name> open|closed [body]` line per target. */
const probes = (targets: Record<string, string>) =>
  [
    `probe() { if out=$(timeout 5 wget -q -O - "$2" 2>/dev/null); then echo "PROBE $1 open $out"; else echo "PROBE $1 closed"; fi; }`,
    ...Object.entries(targets).map(([name, url]) => `probe ${name} ${url}`),
  ].join("\n") + "\n";

const results = (console: string): Record<string, string> =>
  Object.fromEntries([...console.replace(/\r/g, "").matchAll(/^PROBE (\S+) (open|closed)(.*)$/gm)].map((m) => [m[1]!, `${m[2]}${m[3]}`.trim()]));

/** GET with node:http (fetch refuses port 53, a "bad port" in the Fetch spec). */
const httpGet = (url: string): Promise<string> =>
  new Promise((resolve) => {
    const req = get(url, { timeout: 5_000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve(body));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve(`failed: ${e.message}`));
  });

const hostAddress = (): string => {
  const out = spawnSync("ip", ["-j", "-4", "route", "get", "1.1.1.1"], { encoding: "utf8" }).stdout;
  return (JSON.parse(out) as { prefsrc: string }[])[0]!.prefsrc;
};

describe.skipIf(skip)("VM network isolation, from inside real guests", () => {
  const h = new HostdHarness({ HOSTD_MAX_VCPUS: "4", HOSTD_MAX_MEM_MIB: "4096" });
  const net = new FakeInternet(h.names.suffix, randomInt(1, 250));
  let hostServer: Server;
  let hostPort: number;
  const gw = gatewayOf(h.names.subnet).address;
  const hostIp = hostAddress();

  beforeAll(async () => {
    net.start();
    hostPort = await freePort();
    hostServer = createServer((_req, res) => res.end("host-answered"));
    await new Promise<void>((r) => hostServer.listen(hostPort, "0.0.0.0", r));
    h.env.HOSTD_DNS = net.peerIp; // the DNS exception, pointed at the namespace's private address
    h.env.HOSTD_PUBLIC_ROUTES = `${net.publicIp}/32`; // its host route is "the internet", not the host's private side
    await h.start();
  }, T);
  afterAll(async () => {
    await h.dispose();
    hostServer?.close();
    net.dispose();
  }, T);

  const targets = () => ({
    internet: `http://${net.publicIp}:8080/cgi-bin/whoami`,
    ...(net.metadata ? { metadata: "http://169.254.169.254:8080/cgi-bin/whoami" } : {}),
    private: `http://${net.peerIp}:8080/cgi-bin/whoami`,
    dns: `http://${net.peerIp}:53/cgi-bin/whoami`,
    gateway: `http://${gw}:${hostPort}/`,
    host: `http://${hostIp}:${hostPort}/`,
  });

  it("control: from the host, without VM rules in the way, every target answers", async () => {
    if (!net.metadata) process.stderr.write("NOTE: this host routes 169.254.0.0/16 itself; the metadata probe is left out\n");
    for (const [name, url] of Object.entries(targets())) expect(await httpGet(url), name).toMatch(/seen-from=|host-answered/);
  });

  it(
    "a guest reaches the internet only through NAT; not the metadata IP, private networks, the host or its gateway; DNS only through the host's proxy",
    async () => {
      const { vmId } = await h.schedule({ script: probes(targets()) });
      await h.waitEvent("VmDestroyed", vmId, T);
      await waitFor("console", () => h.consoleText(vmId).includes("ONESHOT-JOB-EXIT="), 10_000);
      const r = results(h.consoleText(vmId));
      // NAT: the outside world sees the host's address, never the VM's (and has no route back to it).
      expect(r.internet).toBe(`open seen-from=${net.hostIp}`);
      // With the DNS proxy on (the default) the guests' only resolver is the proxy on their gateway: port 53 of any other server is closed.
      expect(r.dns).toBe("closed");
      expect(r.private).toBe("closed");
      if (net.metadata) expect(r.metadata).toBe("closed");
      expect(r.gateway).toBe("closed");
      expect(r.host).toBe("closed");
      expect(h.leftovers(vmId)).toEqual([]);
    },
    T,
  );

  it(
    "VMs cannot reach each other, and a VM that takes another address is cut off",
    async () => {
      const a = await h.schedule({
        script:
          "mkdir -p /tmp/www && echo vm-a-answered > /tmp/www/index.html && httpd -p 8080 -h /tmp/www && echo \"A-UP $(ip -4 -o addr show eth0 | awk '{print $4}')\"; sleep 600\n",
      });
      const aIp = await waitFor("vm a's address", () => /^A-UP (\d+\.\d+\.\d+\.\d+)\//m.exec(h.consoleText(a.vmId))?.[1], T, 200);
      // Control: a's server answers (the host may open connections to a VM; VMs may not).
      expect(await httpGet(`http://${aIp}:8080/`)).toContain("vm-a-answered");
      const spoofed = aIp.replace(/\d+$/, (n) => String(((Number(n) + 100) % 250) + 2));
      const b = await h.schedule({
        script: [
          probes({ vm: `http://${aIp}:8080/`, internet: `http://${net.publicIp}:8080/cgi-bin/whoami` }).trimEnd(),
          `ip addr flush dev eth0 && ip addr add ${spoofed}/${h.names.subnet.split("/")[1]} dev eth0 && ip route add default via ${gw}`,
          `probe spoofed http://${net.publicIp}:8080/cgi-bin/whoami`,
          "",
        ].join("\n"),
      });
      await h.waitEvent("VmDestroyed", b.vmId, T);
      await waitFor("console", () => h.consoleText(b.vmId).includes("ONESHOT-JOB-EXIT="), 10_000);
      const r = results(h.consoleText(b.vmId));
      expect(r.internet).toBe(`open seen-from=${net.hostIp}`);
      expect(r.vm).toBe("closed");
      expect(r.spoofed).toBe("closed");
      await h.append({
        type: "ReclaimRequested",
        data: { hostId: h.hostId, reclaimId: `r-${a.vmId}`, resources: [{ kind: "vm", name: a.vmId, vmId: a.vmId }], reason: "test done" },
      });
      await h.waitEvent("VmDestroyed", a.vmId);
      expect([...h.leftovers(a.vmId), ...h.leftovers(b.vmId)]).toEqual([]);
    },
    T,
  );
});
