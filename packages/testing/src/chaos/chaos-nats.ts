import { startNatsCluster, type TestNats, type TestNatsCluster } from "../nats-server.js";

/** One nats-server of the chaos suite's cluster (`server_name` in `name`): killed with -9 and started again on its own store. */
export type ChaosNatsNode = TestNats & { name: string };
export type ChaosNats = TestNatsCluster;

/** `size` nats-server processes with JetStream on loopback, no auth: the kit's cluster (`startNatsCluster`). */
export const startChaosNats = (size: number): Promise<ChaosNats> => startNatsCluster(size);
