import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, chmodSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function sh(cmd: string, args: string[], allowFail = false): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0 && !allowFail) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/**
 * "The internet" for isolation tests: this machine reaches only a few package registries, so
 * a network namespace plays the outside world. It hangs off the host by a veth pair (a /30 of
 * private addresses: the host's private side) and answers HTTP on:
 *  - `publicIp` (TEST-NET-2, routed via the veth): an internet address a VM may reach, through NAT;
 *  - `169.254.169.254` (routed via the veth, only when the host has no route there yet): the metadata endpoint;
 *  - `peerIp` (the netns end of the veth, RFC1918): the host's private network, port 8080 and
 *    port 53 (the DNS exception: tests point HOSTD_DNS at it).
 * The CGI answer is the client address the server saw, so a test sees whether NAT happened.
 */
export class FakeInternet {
  readonly ns: string;
  readonly hostVeth: string;
  readonly hostIp: string;
  readonly peerIp: string;
  readonly publicIp: string;
  readonly metadata: boolean;
  private readonly dir = mkdtempSync(join(tmpdir(), "oneshot-fake-internet-"));
  private servers: ChildProcess[] = [];

  constructor(suffix: string, octet: number) {
    this.ns = `osin${suffix}`;
    this.hostVeth = `osvh${suffix}`;
    this.hostIp = `10.199.${octet}.1`;
    this.peerIp = `10.199.${octet}.2`;
    this.publicIp = `198.51.100.${octet}`;
    // A cloud host may route link-local itself: then its real metadata endpoint is left alone.
    this.metadata = !sh("ip", ["route", "show", "169.254.169.254/32"]).trim() && !sh("ip", ["route", "show", "169.254.0.0/16"]).trim();
  }

  start(): void {
    const peer = `osvp${this.ns.slice(4)}`;
    sh("ip", ["netns", "add", this.ns]);
    sh("ip", ["link", "add", this.hostVeth, "type", "veth", "peer", "name", peer]);
    sh("ip", ["link", "set", peer, "netns", this.ns]);
    sh("ip", ["addr", "add", `${this.hostIp}/30`, "dev", this.hostVeth]);
    sh("ip", ["link", "set", this.hostVeth, "up"]);
    const inNs = (cmd: string, args: string[]) => sh("ip", ["netns", "exec", this.ns, cmd, ...args]);
    inNs("ip", ["link", "set", "lo", "up"]);
    inNs("ip", ["addr", "add", `${this.peerIp}/30`, "dev", peer]);
    inNs("ip", ["link", "set", peer, "up"]);
    inNs("ip", ["addr", "add", `${this.publicIp}/32`, "dev", "lo"]);
    if (this.metadata) inNs("ip", ["addr", "add", "169.254.169.254/32", "dev", "lo"]);
    // Only the host side is routed: with no route back to the VM subnet, only NAT'd traffic gets answers.
    sh("ip", ["route", "add", `${this.publicIp}/32`, "via", this.peerIp]);
    if (this.metadata) sh("ip", ["route", "add", "169.254.169.254/32", "via", this.peerIp]);
    const www = join(this.dir, "www");
    mkdirSync(join(www, "cgi-bin"), { recursive: true });
    writeFileSync(join(www, "cgi-bin", "whoami"), "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho \"seen-from=$REMOTE_ADDR\"\n");
    chmodSync(join(www, "cgi-bin", "whoami"), 0o755);
    for (const port of ["8080", "53"]) {
      this.servers.push(spawn("ip", ["netns", "exec", this.ns, "busybox", "httpd", "-f", "-p", `0.0.0.0:${port}`, "-h", www], { stdio: "ignore" }));
    }
  }

  /** Stops the servers and removes the namespace, veth and routes. */
  dispose(): void {
    for (const s of this.servers) s.kill("SIGKILL");
    sh("ip", ["route", "del", `${this.publicIp}/32`], true);
    if (this.metadata) sh("ip", ["route", "del", "169.254.169.254/32"], true);
    sh("ip", ["link", "del", this.hostVeth], true);
    sh("ip", ["netns", "del", this.ns], true);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
