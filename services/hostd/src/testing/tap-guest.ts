import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "@oneshot/testing";
import type { Exec } from "../host/exec.js";
import { exec } from "../host/exec.js";

/**
 * The guest end of a real tap, without booting a VM: a small process holds the tap's file
 * descriptor exactly as QEMU does (read a frame from the tap, hand it to the guest; take a
 * frame from the guest, write it to the tap) and hands the frames to a second tap inside a
 * network namespace, whose kernel plays the guest's kernel (ARP, IP, UDP, `ip link set
 * address` to spoof a MAC). So the host side — the tap hostd created, its bridge port flags,
 * its FDB entry and its nft rules — is the real thing, and the guest side can do anything a
 * root user in a guest can do, in milliseconds instead of a TCG boot.
 */
const SHUTTLE = `
import fcntl, os, select, struct, sys
TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
def tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd
host, guest = tap(sys.argv[1]), tap(sys.argv[2])
print("ready", flush=True)
peer = {host: guest, guest: host}
while True:
    ready, _, _ = select.select([host, guest], [], [])
    for fd in ready:
        try:
            os.write(peer[fd], os.read(fd, 65536))
        except OSError:
            pass
`;

/** Why tap guests cannot run here, or undefined (printed as a SKIP line by the caller). */
export function missingTapGuest(): string | undefined {
  if (spawnSync("python3", ["-c", "import fcntl"]).status !== 0) {
    const why = "python3 missing (the tap holder that stands in for QEMU)";
    process.stderr.write(`SKIP (python3): ${why}\n`);
    return why;
  }
  if (spawnSync("busybox", ["true"]).status !== 0) {
    const why = "busybox missing (ping/arping inside the guest namespace)";
    process.stderr.write(`SKIP (busybox): ${why}\n`);
    return why;
  }
  return undefined;
}

export function sh(args: string[], input?: string): { ok: boolean; out: string } {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8", input });
  return { ok: r.status === 0, out: (r.stdout ?? "") + (r.stderr ?? "") };
}

/** Runs commands inside a network namespace (an Exec for Links/Nft, and a sync helper). */
export const nsExec =
  (ns: string): Exec =>
  (cmd, args, opts) =>
    exec("ip", ["netns", "exec", ns, cmd, ...args], opts);
export const inNs = (ns: string, args: string[], input?: string) => sh(["ip", "netns", "exec", ns, ...args], input);

export interface TapGuestOpts {
  /** The host-side tap (hostd's `os-<vmId>`), which must exist already. */
  tap: string;
  /** Namespace the tap lives in (the "host"); undefined = this process's namespace. */
  hostNs?: string;
  /** Name of the guest's namespace (created here). */
  ns: string;
  mac: string;
  /** Guest address with prefix, e.g. 10.77.0.2/24. */
  cidr: string;
  gateway: string;
}

export class TapGuest {
  private proc: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), "oneshot-tapguest-"));
  /** The guest-side interface inside `ns`. */
  readonly dev = "eth0";

  constructor(readonly o: TapGuestOpts) {}

  async start(): Promise<void> {
    const { o } = this;
    const script = join(this.dir, "shuttle.py");
    writeFileSync(script, SHUTTLE);
    // A temporary name for the guest-side tap until it moves into the guest's namespace.
    const tmp = `tg${Math.random().toString(36).slice(2, 10)}`;
    const pre = o.hostNs ? ["ip", "netns", "exec", o.hostNs] : [];
    sh(["ip", "netns", "add", o.ns]);
    let out = "";
    const proc = spawn(pre[0] ?? "python3", [...pre.slice(1), ...(pre.length ? ["python3"] : []), script, o.tap, tmp], { stdio: ["ignore", "pipe", "pipe"] });
    this.proc = proc;
    proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
    proc.stderr.on("data", (d: Buffer) => (out += d.toString()));
    await waitFor(`tap holder on ${o.tap}`, () => out.includes("ready") || proc.exitCode !== null, 10_000, 20);
    if (!out.includes("ready")) throw new Error(`tap holder for ${o.tap} failed: ${out}`);
    const ipIn = (args: string[]) => sh(o.hostNs ? ["ip", "-n", o.hostNs, ...args] : ["ip", ...args]);
    const moved = ipIn(["link", "set", tmp, "netns", o.ns]);
    if (!moved.ok) throw new Error(`cannot move ${tmp} into ${o.ns}: ${moved.out}`);
    for (const args of [
      ["link", "set", tmp, "name", this.dev],
      ["link", "set", this.dev, "address", o.mac],
      ["addr", "add", o.cidr, "dev", this.dev],
      ["link", "set", this.dev, "up"],
      ["link", "set", "lo", "up"],
      ["route", "add", "default", "via", o.gateway],
    ]) {
      const r = sh(["ip", "-n", o.ns, ...args]);
      if (!r.ok) throw new Error(`ip ${args.join(" ")} in ${o.ns}: ${r.out}`);
    }
  }

  /** A command inside the guest's namespace. */
  run(args: string[]): { ok: boolean; out: string } {
    return inNs(this.o.ns, args);
  }

  /** Bytes the guest's interface sent and received so far (its kernel's counters). */
  counters(): { tx: number; rx: number } {
    const read = (what: string) => Number(inNs(this.o.ns, ["cat", `/sys/class/net/${this.dev}/statistics/${what}`]).out.trim());
    return { tx: read("tx_bytes"), rx: read("rx_bytes") };
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null) {
      p.kill("SIGKILL");
      await new Promise((r) => p.once("exit", r));
    }
    sh(["ip", "netns", "del", this.o.ns]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** UDP payloads received in a namespace on one port, in order (a node listener inside it). */
export class UdpSink {
  private proc: ChildProcess | undefined;
  readonly got: string[] = [];
  private buf = "";

  constructor(
    readonly ns: string,
    readonly port: number,
  ) {}

  async start(): Promise<void> {
    const code = `const s=require("dgram").createSocket("udp4");s.on("message",(m)=>process.stdout.write(m.toString().slice(0,64)+"\\n"));s.bind(${this.port},()=>process.stdout.write("ready\\n"));`;
    const proc = spawn("ip", ["netns", "exec", this.ns, process.execPath, "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
    this.proc = proc;
    let ready = false;
    proc.stdout.on("data", (d: Buffer) => {
      this.buf += d.toString();
      const lines = this.buf.split("\n");
      this.buf = lines.pop()!;
      for (const l of lines)
        if (l === "ready") ready = true;
        else this.got.push(l);
    });
    await waitFor(`udp listener in ${this.ns}`, () => ready, 10_000, 20);
  }

  count(prefix: string): number {
    return this.got.filter((l) => l.startsWith(prefix)).length;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null) {
      p.kill("SIGKILL");
      await new Promise((r) => p.once("exit", r));
    }
  }
}

/** Sends `n` UDP datagrams `<tag>-<i>` (from inside `ns`, or this namespace), `gapMs` apart. */
export function sendUdp(o: { ns?: string; to: string; port: number; tag: string; n: number; gapMs?: number }): void {
  const code = `const s=require("dgram").createSocket("udp4");let i=0;const go=()=>{if(i>=${o.n})return s.close();s.send("${o.tag}-"+(i++),${o.port},"${o.to}",()=>setTimeout(go,${o.gapMs ?? 2}))};go();`;
  const r = sh(o.ns ? ["ip", "netns", "exec", o.ns, process.execPath, "-e", code] : [process.execPath, "-e", code]);
  if (!r.ok) throw new Error(`udp send to ${o.to}: ${r.out}`);
}

/**
 * Floods UDP (1400-byte datagrams) to `to` for `ms` from inside `ns`. `started` resolves once
 * datagrams are flowing (measure inside the flood, not around a process start-up);
 * `done` with the number of datagrams handed to the kernel.
 */
export function floodUdp(o: { ns?: string; to: string; port: number; ms: number }): { started: Promise<void>; done: Promise<number> } {
  const code = `const s=require("dgram").createSocket("udp4");const b=Buffer.alloc(1400);let n=0;const t=Date.now();console.log("go");const go=()=>{for(let k=0;k<32;k++){s.send(b,${o.port},"${o.to}");n++}if(Date.now()-t<${o.ms})setImmediate(go);else setTimeout(()=>{console.log(n);s.close()},50)};go();`;
  const args = o.ns ? ["ip", "netns", "exec", o.ns, process.execPath, "-e", code] : [process.execPath, "-e", code];
  const p = spawn(args[0]!, args.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const started = new Promise<void>((resolve) => p.stdout.once("data", () => resolve()));
  p.stdout.on("data", (d: Buffer) => (out += d.toString()));
  p.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const done = new Promise<number>((resolve, reject) =>
    p.on("exit", (c) => (c === 0 ? resolve(Number(out.trim().split("\n").at(-1))) : reject(new Error(`udp flood to ${o.to}: ${out}`)))),
  );
  return { started, done };
}
