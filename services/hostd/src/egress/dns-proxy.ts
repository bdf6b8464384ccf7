import { createSocket, type Socket } from "node:dgram";
import { createConnection, createServer, type Server, type Socket as TcpSocket } from "node:net";
import type { EgressPolicy } from "@oneshot/proto";
import type { Logger } from "@oneshot/runtime";
import dnsPacket from "dns-packet";
import { allowTimeout, decideQuery, normName, type TtlBounds } from "./policy.js";

/** The VM a query came from (by its source address: the layer-2 rules keep every VM to its own). */
export interface ProxyVm {
  vmId: string;
  policy: EgressPolicy | undefined;
}

export interface DnsProxyDeps {
  /** Where guests ask: the bridge's gateway address, port 53. */
  listen: { address: string; port: number };
  upstream: { address: string; port: number };
  vmAt: (address: string) => ProxyVm | undefined;
  /** Puts resolved addresses into the VM's allow set; must be done before the guest gets the answer. */
  allow: (vmAddress: string, entries: { address: string; timeoutSec: number }[]) => Promise<void>;
  /** A query refused (allow mode) or let through though not listed (audit mode). */
  noteQuery: (vmAddress: string, name: string, action: "refused" | "allowed") => void;
  /** What a VM resolved, for the names in its VmEgressDenied. */
  noteResolved: (vmAddress: string, name: string, addresses: string[]) => void;
  ttl: TtlBounds;
  log: Logger;
  upstreamTimeoutMs?: number;
}

export interface DnsProxyStats {
  queries: number;
  forwarded: number;
  refused: number;
  unknownSource: number;
  failed: number;
}

const RCODE = { SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

/** A response to `query` with no answers and this rcode (the question echoed, RD kept, RA set). */
function emptyAnswer(query: dnsPacket.DecodedPacket, rcode: number): Buffer {
  return dnsPacket.encode({
    type: "response",
    id: query.id ?? 0,
    flags: ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | dnsPacket.RECURSION_AVAILABLE | rcode,
    questions: query.questions ?? [],
  });
}

/**
 * The guests' only resolver (docs/egress-policy.md): a DNS forwarder on the bridge's gateway that
 * knows which VM asked (the source address) and so applies that VM's policy. Allowed names are
 * forwarded upstream, and their A records are put into the VM's nft allow set (timeout from the
 * TTL) before the answer leaves; names off the list get NXDOMAIN (allow mode) or are forwarded
 * and recorded (audit mode); open VMs are forwarded as is. Unknown sources get REFUSED. UDP and
 * TCP (length-prefixed, RFC 1035 4.2.2), each query on its own upstream socket.
 */
export class DnsProxy {
  private udp: Socket | undefined;
  private tcp: Server | undefined;
  readonly stats: DnsProxyStats = { queries: 0, forwarded: 0, refused: 0, unknownSource: 0, failed: 0 };

  constructor(private readonly d: DnsProxyDeps) {}

  async start(): Promise<void> {
    const { address, port } = this.d.listen;
    const udp = createSocket({ type: "udp4", reuseAddr: true });
    udp.on("message", (msg, rinfo) => {
      void this.answer(msg, rinfo.address, "udp").then(
        (out) => out && udp.send(out, rinfo.port, rinfo.address),
        (err: unknown) => this.d.log.warn({ err, from: rinfo.address }, "DNS proxy: query failed"),
      );
    });
    await new Promise<void>((resolve, reject) => {
      udp.once("error", reject);
      udp.bind(port, address, () => {
        udp.off("error", reject);
        resolve();
      });
    });
    udp.on("error", (err) => this.d.log.warn({ err }, "DNS proxy: UDP socket error"));
    this.udp = udp;
    const tcp = createServer((sock) => this.serveTcp(sock));
    await new Promise<void>((resolve, reject) => {
      tcp.once("error", reject);
      tcp.listen(port, address, () => {
        tcp.off("error", reject);
        resolve();
      });
    });
    this.tcp = tcp;
  }

  async stop(): Promise<void> {
    this.udp?.close();
    await new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r()));
  }

  private serveTcp(sock: TcpSocket): void {
    let buf = Buffer.alloc(0);
    sock.setTimeout(10_000, () => sock.destroy());
    sock.on("error", () => sock.destroy());
    sock.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        void this.answer(Buffer.from(msg), sock.remoteAddress?.replace(/^::ffff:/, "") ?? "", "tcp").then(
          (out) => {
            if (!out || sock.destroyed) return;
            const len = Buffer.alloc(2);
            len.writeUInt16BE(out.length);
            sock.write(Buffer.concat([len, out]));
          },
          () => sock.destroy(),
        );
      }
      if (buf.length > 70_000) sock.destroy();
    });
  }

  /** The answer to one query from `from` (undefined: not a query, dropped). Exposed for tests and the bench. */
  async answer(msg: Buffer, from: string, transport: "udp" | "tcp"): Promise<Buffer | undefined> {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return undefined;
    }
    if (query.type !== "query") return undefined;
    this.stats.queries++;
    const q = query.questions?.[0];
    const vm = this.d.vmAt(from);
    if (!vm || !q) {
      this.stats.unknownSource++;
      return emptyAnswer(query, RCODE.REFUSED);
    }
    const name = normName(q.name);
    const decision = decideQuery(vm.policy, name);
    if (decision.record) this.d.noteQuery(from, name, decision.record);
    if (!decision.forward) {
      this.stats.refused++;
      return emptyAnswer(query, RCODE.NXDOMAIN);
    }
    let reply: Buffer;
    try {
      reply = await (transport === "tcp" ? this.askTcp(msg) : this.askUdp(msg));
    } catch (err) {
      this.stats.failed++;
      this.d.log.warn({ err, vmId: vm.vmId, name }, "DNS proxy: upstream did not answer");
      return emptyAnswer(query, RCODE.SERVFAIL);
    }
    this.stats.forwarded++;
    if (!decision.allowAnswers && vm.policy?.mode !== "audit") return reply;
    let parsed: dnsPacket.DecodedPacket;
    try {
      parsed = dnsPacket.decode(reply);
    } catch {
      return decision.allowAnswers ? emptyAnswer(query, RCODE.SERVFAIL) : reply;
    }
    const a = (parsed.answers ?? []).filter((x): x is dnsPacket.StringAnswer => x.type === "A" && typeof x.data === "string");
    if (a.length)
      this.d.noteResolved(
        from,
        name,
        a.map((x) => x.data),
      );
    if (!decision.allowAnswers) return reply;
    const entries = new Map<string, number>();
    let rewrite = false;
    for (const x of a) {
      const t = allowTimeout(x.ttl ?? 0, this.d.ttl);
      entries.set(x.data, Math.max(entries.get(x.data) ?? 0, t.timeoutSec));
      if ((x.ttl ?? 0) > t.guestTtl) {
        x.ttl = t.guestTtl;
        rewrite = true;
      }
    }
    if (entries.size) {
      try {
        await this.d.allow(
          from,
          [...entries].map(([address, timeoutSec]) => ({ address, timeoutSec })),
        );
      } catch (err) {
        // Fail closed: an answer the guest could not use is worse than none in allow mode.
        this.stats.failed++;
        this.d.log.warn({ err, vmId: vm.vmId, name }, "DNS proxy: cannot add the answer to the VM's allow set");
        return vm.policy?.mode === "audit" ? reply : emptyAnswer(query, RCODE.SERVFAIL);
      }
    }
    return rewrite ? dnsPacket.encode(parsed) : reply;
  }

  private askUdp(msg: Buffer): Promise<Buffer> {
    const { address, port } = this.d.upstream;
    const id = msg.readUInt16BE(0);
    return new Promise((resolve, reject) => {
      const s = createSocket("udp4");
      const done = (f: () => void) => {
        clearTimeout(timer);
        s.close();
        f();
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no answer from ${address}:${port}`))), this.d.upstreamTimeoutMs ?? 2_000);
      s.on("error", (e) => done(() => reject(e)));
      s.on("message", (reply, rinfo) => {
        if (rinfo.address !== address || reply.length < 2 || reply.readUInt16BE(0) !== id) return;
        done(() => resolve(reply));
      });
      s.send(msg, port, address);
    });
  }

  private askTcp(msg: Buffer): Promise<Buffer> {
    const { address, port } = this.d.upstream;
    return new Promise((resolve, reject) => {
      const s = createConnection({ host: address, port });
      let buf = Buffer.alloc(0);
      const timer = setTimeout(() => s.destroy(new Error(`no answer from ${address}:${port}`)), this.d.upstreamTimeoutMs ?? 2_000);
      s.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      s.on("connect", () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(msg.length);
        s.write(Buffer.concat([len, msg]));
      });
      s.on("data", (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          clearTimeout(timer);
          s.end();
          resolve(Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        }
      });
    });
  }
}
