import { startNatsCluster, type TestNats } from "../nats-server.js";

/** One nats-server of the chaos suite's cluster: killed with -9 and started again on its own store. */
export interface ChaosNatsNode {
  /** `server_name` (what stream info calls the leader). */
  name: string;
  port: number;
  /** The running server's pid (its CPU, for benches), undefined while it is down. */
  readonly pid: number | undefined;
  kill9(): Promise<void>;
  /** Starts it again (same port, same store) and waits until it listens. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface ChaosNats {
  url: string;
  nodes: ChaosNatsNode[];
  dispose(): Promise<void>;
}

/** `size` nats-server processes with JetStream on loopback, no auth: the kit's cluster (`startNatsCluster`). */
export async function startChaosNats(size: number): Promise<ChaosNats> {
  const cluster = await startNatsCluster(size);
  const node = (n: TestNats & { name: string }): ChaosNatsNode => ({
    name: n.name, port: n.port, get pid() { return n.pid; },
    kill9: () => n.kill9(), restart: () => n.restart(), stop: () => n.stop(),
  });
  return { url: cluster.url, nodes: cluster.nodes.map(node), dispose: () => cluster.dispose() };
}
