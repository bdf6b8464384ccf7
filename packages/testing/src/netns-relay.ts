import { spawn, type ChildProcess } from "node:child_process";
import { waitFor } from "./wait.js";

/**
 * A TCP relay running inside a network namespace (e.g. the hostd FakeInternet's "internet"):
 * it listens on `listen` there (a public TEST-NET address a VM reaches through NAT) and
 * forwards each connection to `target` (an address of this host the namespace can reach, such
 * as the host end of its veth), where a stand-in listens. A VM thus reaches a stand-in that runs
 * in the test process while guests stay cut off from the host itself.
 */
export interface NetnsRelay {
  url: string;
  /** Connections relayed so far. */
  connections(): number;
  close(): void;
}

const RELAY = String.raw`
const net = require("node:net");
const [lh, lp, th, tp] = process.argv.slice(1);
let n = 0;
net.createServer((c) => {
  n++;
  process.stdout.write("conn " + n + "\n");
  const u = net.connect(Number(tp), th);
  c.pipe(u); u.pipe(c);
  const end = () => { c.destroy(); u.destroy(); };
  c.on("error", end); u.on("error", end); c.on("close", end); u.on("close", end);
}).listen(Number(lp), lh, () => process.stdout.write("listening\n"));
`;

export async function startNetnsRelay(o: { ns: string; listen: { host: string; port: number }; target: { host: string; port: number } }): Promise<NetnsRelay> {
  let out = "";
  let n = 0;
  const p: ChildProcess = spawn(
    "ip",
    ["netns", "exec", o.ns, process.execPath, "-e", RELAY, o.listen.host, String(o.listen.port), o.target.host, String(o.target.port)],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  p.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
    n = (out.match(/^conn /gm) ?? []).length;
  });
  p.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  await waitFor(
    `the relay in ${o.ns} to listen`,
    () => {
      if (p.exitCode !== null) throw new Error(`relay exited ${p.exitCode}: ${out}`);
      return out.includes("listening");
    },
    10_000,
  );
  return { url: `http://${o.listen.host}:${o.listen.port}`, connections: () => n, close: () => void p.kill("SIGKILL") };
}
