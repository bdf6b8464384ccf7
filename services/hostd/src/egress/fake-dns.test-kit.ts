import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { resolve } from "node:path";

/** Name → IPv4 addresses and TTL: what "the internet's" DNS answers. */
export type Zone = Record<string, { a: string[]; ttl: number }>;

/**
 * A DNS server inside the fake internet's namespace (UDP, every address of the namespace, port
 * 53): this machine reaches no real resolver, so it plays the ones on the internet, answering
 * A queries from `zone`, AAAA with no records, anything unknown NXDOMAIN. It prints each query
 * (`Q <name> <type>`), so a test can see whether the host's proxy forwarded one.
 */
export class FakeDns {
  private proc: ChildProcess | undefined;
  readonly queries: string[] = [];

  constructor(
    private readonly ns: string,
    private readonly zone: Zone,
  ) {}

  async start(): Promise<void> {
    const code = `
      import dgram from "node:dgram";
      import dns from "dns-packet";
      const zone = ${JSON.stringify(this.zone)};
      const s = dgram.createSocket("udp4");
      s.on("message", (m, r) => {
        let q; try { q = dns.decode(m); } catch { return; }
        const qq = q.questions?.[0]; if (!qq) return;
        const name = qq.name.toLowerCase();
        console.log("Q " + name + " " + qq.type);
        const z = zone[name];
        const answers = z && qq.type === "A" ? z.a.map((data) => ({ type: "A", class: "IN", name: qq.name, ttl: z.ttl, data })) : [];
        const rcode = z ? 0 : 3;
        s.send(dns.encode({ type: "response", id: q.id, flags: dns.RECURSION_AVAILABLE | (q.flags & dns.RECURSION_DESIRED) | rcode, questions: q.questions, answers }), r.port, r.address);
      });
      s.bind(53, "0.0.0.0", () => console.log("READY"));
    `;
    const p = spawn("ip", ["netns", "exec", this.ns, process.execPath, "--input-type=module", "-e", code], {
      cwd: resolve(import.meta.dirname, "..", ".."),
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.proc = p;
    await new Promise<void>((ok, fail) => {
      const rl = createInterface({ input: p.stdout! });
      p.once("exit", (c) => fail(new Error(`fake DNS exited ${c}`)));
      rl.on("line", (l) => {
        if (l === "READY") ok();
        else if (l.startsWith("Q ")) this.queries.push(l.slice(2));
      });
    });
  }

  stop(): void {
    this.proc?.kill("SIGKILL");
  }
}
