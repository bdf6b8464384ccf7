import { spawnSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EgressDestination, EgressPolicy, VmEgressDenied } from "@oneshot/proto";
import { missing, waitFor } from "@oneshot/testing";
import { FakeInternet } from "../testing/fake-internet.js";
import { HostdHarness, missingImage } from "../testing/hostd-harness.js";
import { FakeDns } from "./fake-dns.test-kit.js";

// Egress policies seen from INSIDE real guests (docs/egress-policy.md): the real hostd with its
// DNS proxy, two QEMU guests booted at once (one `allow`, one `audit`), each running one script
// that tries every case and prints a line per case. "The internet" is the fake-internet
// namespace, with a DNS server of its own (fake-dns.test-kit.ts) as hostd's upstream.
const skip = missing("nats", "root", "qemu-x86", "nft") ?? missingImage("amd64");
const T = 300_000;

/**
 * One `PROBE <name> open|closed [body]` or `DNS <name> ok <addresses>|fail` line per case. Each
 * gets 10 s: under CI load a TCG guest took most of 5 s to send its first packet, so a
 * dropped lookup "failed" on the timeout with nothing sent and nothing for the report to count.
 */
const script = (cases: string[]) =>
  [
    `probe() { if out=$(timeout 10 wget -q -O - "$2" 2>/dev/null); then echo "PROBE $1 open $out"; else echo "PROBE $1 closed"; fi; }`,
    `lookup() { if out=$(timeout 10 nslookup "$2" $3 2>&1); then echo "DNS $1 ok $(echo "$out" | awk '/^Name:/{n=1;next} n&&/^Address/{print $2}' | tr '\\n' ' ')"; else echo "DNS $1 fail"; fi; }`,
    ...cases,
    "",
  ].join("\n");

const results = (console: string): Record<string, string> =>
  Object.fromEntries(
    [...console.replace(/\r/g, "").matchAll(/^(?:PROBE|DNS) (\S+) (open|closed|ok|fail)(.*)$/gm)].map((m) => [m[1]!, `${m[2]}${m[3]}`.trim()]),
  );

describe.skipIf(skip)("egress policies, from inside real guests", () => {
  const h = new HostdHarness({ HOSTD_MAX_VCPUS: "4", HOSTD_MAX_MEM_MIB: "4096", HOSTD_EGRESS_REPORT_INTERVAL: "1" });
  const octet = randomInt(1, 250);
  const net = new FakeInternet(h.names.suffix, octet);
  // A second internet address no allow list names (TEST-NET-3), served by the same namespace.
  const other = `203.0.113.${octet}`;
  const dns = new FakeDns(net.ns, {
    "allowed.test": { a: [net.publicIp], ttl: 300 },
    "a.wild.test": { a: [net.publicIp], ttl: 0 },
    "denied.test": { a: [other], ttl: 300 },
    // DNS rebinding: an allowed name that answers with the host's private side.
    "rebind.test": { a: [net.peerIp], ttl: 300 },
  });

  beforeAll(async () => {
    net.start();
    spawnSync("ip", ["netns", "exec", net.ns, "ip", "addr", "add", `${other}/32`, "dev", "lo"]);
    spawnSync("ip", ["route", "add", `${other}/32`, "via", net.peerIp]);
    await dns.start();
    h.env.HOSTD_DNS = net.peerIp; // the proxy's upstream
    h.env.HOSTD_PUBLIC_ROUTES = `${net.publicIp}/32,${other}/32`;
    await h.start();
  }, T);
  afterAll(async () => {
    await h.dispose();
    dns.stop();
    spawnSync("ip", ["route", "del", `${other}/32`]);
    net.dispose();
  }, T);

  const web = (host: string) => `http://${host}:8080/cgi-bin/whoami`;
  const denials = (vmId: string) => h.vmEvents(vmId).filter((e): e is typeof e & { type: "VmEgressDenied" } => e.type === "VmEgressDenied");
  const merged = (vmId: string) => {
    const d = new Map<string, EgressDestination>();
    const q = new Map<string, VmEgressDenied["data"]["queries"][number]>();
    for (const e of denials(vmId)) {
      for (const x of e.data.destinations) {
        const k = `${x.address}:${x.port}/${x.protocol}`;
        const prev = d.get(k);
        d.set(k, prev ? { ...prev, count: prev.count + x.count, names: [...new Set([...prev.names, ...x.names])] } : x);
      }
      for (const x of e.data.queries) q.set(x.name, { ...x, count: (q.get(x.name)?.count ?? 0) + x.count });
    }
    return { dest: d, queries: q };
  };

  it(
    "allow: a listed name resolves and connects; an unlisted name or address, DNS past the proxy and a listed name rebound to a private address are dropped; audit: all through but DNS past the proxy, and recorded",
    async () => {
      const allow: EgressPolicy = { mode: "allow", allow: ["allowed.test", "*.wild.test", "rebind.test"], source: "test:allow" };
      const audit: EgressPolicy = { mode: "audit", allow: ["allowed.test"], source: "test:audit" };
      const bypass = `lookup bypass allowed.test ${net.publicIp}`;
      const a = await h.schedule({
        spec: { egress: allow },
        script: script([
          "lookup dns-allowed allowed.test",
          `probe allowed ${web("allowed.test")}`,
          `probe wildcard ${web("a.wild.test")}`,
          "lookup dns-denied denied.test",
          `probe denied-name ${web("denied.test")}`,
          `probe denied-address ${web(other)}`,
          `probe rebind ${web("rebind.test")}`,
          bypass,
        ]),
      });
      const b = await h.schedule({
        spec: { egress: audit },
        // It outlives the allow VM: a VM's destroy has been seen to take the other VM's `denied`
        // counters with it (not understood yet; enforcement is unaffected), so the allow VM's last
        // drops are counted only if it goes first (docs/egress-policy.md, known gaps).
        script: script(["lookup dns-denied denied.test", `probe denied-name ${web("denied.test")}`, `probe denied-address ${web(other)}`, bypass, "sleep 30"]),
      });
      for (const vm of [a, b]) {
        await h.waitEvent("VmDestroyed", vm.vmId, T);
        await waitFor("console", () => h.consoleText(vm.vmId).includes("ONESHOT-JOB-EXIT="), 10_000);
      }
      const ra = results(h.consoleText(a.vmId));
      const rb = results(h.consoleText(b.vmId));
      process.stderr.write(`allow VM: ${JSON.stringify(ra)}\naudit VM: ${JSON.stringify(rb)}\n`);

      // allow mode
      expect(ra["dns-allowed"]).toBe(`ok ${net.publicIp}`);
      expect(ra.allowed).toBe(`open seen-from=${net.hostIp}`);
      expect(ra.wildcard).toBe(`open seen-from=${net.hostIp}`); // TTL 0: the set's floor keeps it for the connect
      expect(ra["dns-denied"]).toBe("fail"); // NXDOMAIN from the proxy
      expect(ra["denied-name"]).toBe("closed");
      expect(ra["denied-address"]).toBe("closed");
      expect(ra.rebind).toBe("closed"); // resolved (allowed name), added, and still dropped: forbidden comes first
      expect(ra.bypass).toBe("fail");
      // audit mode: the same unlisted name and address get through (the control for "closed" above)
      expect(rb["dns-denied"]).toBe(`ok ${other}`);
      expect(rb["denied-name"]).toBe(`open seen-from=${net.hostIp}`);
      expect(rb["denied-address"]).toBe(`open seen-from=${net.hostIp}`);
      expect(rb.bypass).toBe("fail"); // DNS past the proxy is dropped whatever the mode

      // What was denied, or would have been, is on each VM's subject (the last window comes after its destroy).
      await waitFor("VmEgressDenied of both VMs", () => denials(a.vmId).length > 0 && denials(b.vmId).length > 0, 15_000);
      // A destroyed VM's last window is reported at its destroy, and read here as the log is followed (late under load).
      const want = [`${other}:8080/tcp`, `${net.peerIp}:8080/tcp`, `${net.publicIp}:53/udp`];
      await waitFor(
        "every denial of the allow VM reported",
        () => want.every((k) => merged(a.vmId).dest.has(k)) && merged(b.vmId).dest.has(want[2]!),
        20_000,
      ).catch(
        () => undefined, // the assertions below say what is missing
      );
      const ea = merged(a.vmId);
      const eb = merged(b.vmId);
      process.stderr.write(`allow VM denied: ${JSON.stringify([...ea.dest.values()])} ${JSON.stringify([...ea.queries.values()])}\n`);
      process.stderr.write(`audit VM recorded: ${JSON.stringify([...eb.dest.values()])} ${JSON.stringify([...eb.queries.values()])}\n`);
      expect(denials(a.vmId)[0]!.data).toMatchObject({ mode: "allow", source: "test:allow", jobId: a.jobId, hostId: h.hostId });
      expect(denials(a.vmId)[0]!.correlationId).toBe(a.correlationId);
      expect(ea.dest.get(`${other}:8080/tcp`)).toMatchObject({ reason: "not-allowed", action: "dropped" });
      expect(ea.dest.get(`${net.peerIp}:8080/tcp`)).toMatchObject({ reason: "forbidden", action: "dropped", names: ["rebind.test"] });
      expect(ea.dest.get(`${net.publicIp}:53/udp`)).toMatchObject({ reason: "dns", action: "dropped" });
      expect(ea.queries.get("denied.test")).toMatchObject({ action: "refused" });
      expect(ea.dest.has(`${net.publicIp}:8080/tcp`)).toBe(false); // allowed: not reported
      expect(denials(b.vmId)[0]!.data).toMatchObject({ mode: "audit", source: "test:audit" });
      expect(eb.dest.get(`${other}:8080/tcp`)).toMatchObject({ reason: "not-allowed", action: "allowed", names: ["denied.test"] });
      expect(eb.dest.get(`${net.publicIp}:53/udp`)).toMatchObject({ reason: "dns", action: "dropped" });
      expect(eb.queries.get("denied.test")).toMatchObject({ action: "allowed" });
      expect([...h.leftovers(a.vmId), ...h.leftovers(b.vmId)]).toEqual([]);
    },
    T,
  );
});
