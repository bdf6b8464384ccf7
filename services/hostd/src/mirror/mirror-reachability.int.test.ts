import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomInt } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, missing, waitFor } from "@oneshot/testing";
import { gatewayOf } from "../net/vm-address.js";
import { FakeInternet } from "../testing/fake-internet.js";
import { HostdHarness, missingImage } from "../testing/hostd-harness.js";
import { buildOciLayout, skopeoPush } from "./testing/oci-layout.js";
import { missingRegistryTools, TestRegistry } from "./testing/test-registry.js";

// The real hostd with HOSTD_REGISTRY_MIRROR=on, no guest: a network namespace plugged into its
// bridge (what a guest's NIC is, as far as the host's rules go) reaches the mirror at the
// gateway, port 5000, and pulls an image through it with skopeo; from the host's other side
// (the namespace the isolation tests call the internet, routed to the gateway address through
// the host) port 5000 is dropped, and the mirror listens on no other address of the host.
// Every "closed" is paired with a port on the same address that answers, so it can only be the rules.
const skip = missing("nats", "root", "nft") ?? missingRegistryTools() ?? missingImage("amd64");

/** curl from inside a namespace: `200`, or `refused` (exit 7), `timeout` (exit 28), `error <n>`. */
const curlIn = (ns: string, url: string): Promise<string> =>
  new Promise((resolve) =>
    execFile("ip", ["netns", "exec", ns, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--connect-timeout", "2", "-m", "5", url], (err, stdout) => {
      const code = (err as { code?: number } | null)?.code ?? 0;
      resolve(code === 0 ? stdout.trim() : code === 7 ? "refused" : code === 28 ? "timeout" : `error ${code}`);
    }),
  );
const sh = (args: string[]) => {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};

describe.skipIf(skip)("registry mirror: reachable from the bridge at the gateway, and from nowhere else", () => {
  const store = mkdtempSync(join(tmpdir(), "oneshot-mirror-store-"));
  const h = new HostdHarness({ HOSTD_REGISTRY_MIRROR: "on", HOSTD_REGISTRY_MIRROR_DIR: join(store, "cache") });
  const other = new FakeInternet(h.names.suffix, randomInt(1, 250));
  const gw = gatewayOf(h.names.subnet).address;
  const guestNs = `osmg${h.names.suffix}`;
  const guestVeth = `osmv${h.names.suffix}`;
  let upstream: TestRegistry;
  let server: ChildProcess;
  let open: number;
  let metricsPort: number;

  beforeAll(async () => {
    chmodSync(store, 0o755);
    upstream = new TestRegistry({ addr: "127.0.0.1", port: await freePort() });
    await upstream.start();
    skopeoPush(buildOciLayout(join(store, "oci"), { files: { hello: "hi\n" } }), `127.0.0.1:${upstream.o.port}/library/hello:latest`);
    h.env.HOSTD_REGISTRY_MIRROR_UPSTREAM = upstream.url;
    h.env.HOSTD_HTTP_PORT = String((metricsPort = await freePort()));
    await h.start();
    // A port of the host that answers on every address: what "closed" is compared with (its own
    // process: a server in this one could not answer while a synchronous call runs).
    open = await freePort();
    mkdirSync(join(store, "www"));
    writeFileSync(join(store, "www", "index.html"), "host\n");
    server = spawn("busybox", ["httpd", "-f", "-p", `0.0.0.0:${open}`, "-h", join(store, "www")], { stdio: "ignore" });
    await waitFor(
      "the host's control server",
      () =>
        fetch(`http://127.0.0.1:${open}/`).then(
          (r) => r.ok,
          () => false,
        ),
      10_000,
      100,
    );
    // The guest side: a namespace on the bridge with the next-to-last address of the subnet.
    const guestIp = gw.replace(/\d+$/, "250");
    sh(["ip", "netns", "add", guestNs]);
    sh(["ip", "link", "add", guestVeth, "type", "veth", "peer", "name", `${guestVeth}p`]);
    sh(["ip", "link", "set", `${guestVeth}p`, "netns", guestNs]);
    sh(["ip", "link", "set", guestVeth, "master", h.names.bridge, "up"]);
    sh(["ip", "netns", "exec", guestNs, "ip", "link", "set", "lo", "up"]);
    sh(["ip", "netns", "exec", guestNs, "ip", "addr", "add", `${guestIp}/${h.names.subnet.split("/")[1]}`, "dev", `${guestVeth}p`]);
    sh(["ip", "netns", "exec", guestNs, "ip", "link", "set", `${guestVeth}p`, "up"]);
    sh(["ip", "netns", "exec", guestNs, "ip", "route", "add", "default", "via", gw]);
    // The other side: the fake internet, routed to the gateway address through the host's veth.
    other.start();
    sh(["ip", "netns", "exec", other.ns, "ip", "route", "add", h.names.subnet, "via", other.hostIp]);
    await waitFor(
      "the mirror on the gateway",
      () =>
        fetch(`http://${gw}:5000/v2/`).then(
          (r) => r.status === 200,
          () => false,
        ),
      30_000,
      200,
    );
  }, 120_000);
  afterAll(async () => {
    spawnSync("ip", ["link", "del", guestVeth]);
    spawnSync("ip", ["netns", "del", guestNs]);
    other.dispose();
    server?.kill("SIGKILL");
    await h.dispose();
    await upstream?.dispose();
    rmSync(store, { recursive: true, force: true });
  }, 120_000);

  it("from the bridge: the gateway's port 5000 answers and an image pulls through it; another host port on the gateway is dropped", async () => {
    expect(await curlIn(guestNs, `http://${gw}:5000/v2/`)).toBe("200");
    expect(await curlIn(guestNs, `http://${gw}:${open}/`)).toBe("timeout");
    const pulled = spawnSync(
      "ip",
      [
        "netns",
        "exec",
        guestNs,
        "skopeo",
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        `docker://${gw}:5000/library/hello:latest`,
        `dir:${join(store, "pulled")}`,
      ],
      {
        encoding: "utf8",
      },
    );
    expect(pulled.stderr).toBe("");
    expect(pulled.status).toBe(0);
  });

  it("from the host's other side: port 5000 on the gateway address is dropped (another port there answers), and no other host address has the mirror", async () => {
    expect(await curlIn(other.ns, `http://${gw}:${open}/`)).toBe("200");
    expect(await curlIn(other.ns, `http://${gw}:5000/v2/`)).toBe("timeout");
    // The host's address on that side: the mirror does not listen there (refused, not dropped: nothing in the rules is about it).
    expect(await curlIn(other.ns, `http://${other.hostIp}:${open}/`)).toBe("200");
    expect(await curlIn(other.ns, `http://${other.hostIp}:5000/v2/`)).toBe("refused");
    const listening = sh(["ss", "-Hltn", "sport", "= :5000"]).trim().split("\n").filter(Boolean);
    expect(listening.map((l) => l.split(/\s+/)[3])).toContain(`${gw}:5000`);
    expect(listening.filter((l) => l.includes(`${gw}:5000`) === false && !l.includes("127.0.0.1"))).toEqual([]);
  });

  it("on /metrics: the mirror is up and counted the blobs it served (the pull above)", async () => {
    let text = "";
    const metrics = await waitFor(
      "mirror metrics",
      async () => {
        text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
        return /hostd_registry_mirror_up\{mirror="docker.io"[^}]*\} 1/.test(text) ? text : undefined;
      },
      10_000,
      200,
      () =>
        text
          .split("\n")
          .filter((l) => l.includes("mirror"))
          .join("\n") || text.slice(0, 500),
    );
    expect(metrics).toMatch(/hostd_registry_mirror_blob_pulls_total\{mirror="docker.io"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/hostd_registry_mirror_cap_bytes\{[^}]*\} 21474836480/);
  });
});
