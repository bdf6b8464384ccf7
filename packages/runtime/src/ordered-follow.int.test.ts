import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { subjects, type DomainEvent } from "@oneshot/proto";
import { missing, startNatsCluster, waitFor, type TestNatsCluster } from "@oneshot/testing";
import { EventStore } from "./event-store.js";
import { createLogger } from "./logger.js";
import { connectNats, ensureStreams, type Nats } from "./nats.js";

// A follower's ordered consumer is an R1 ephemeral on any node of the stream's group. Here the
// node holding it is killed (SIGKILL) and NOT restarted while the test waits: the follower must
// go on delivering what is appended after the kill, in order, nothing twice and nothing skipped.
// Without ordered-follow.ts's watchdog nats.js waits for that node to come back.
const skip = missing("nats");
const log = createLogger("test", { level: "silent" });
const cordon = (i: number): DomainEvent => ({ type: "HostCordoned", data: { hostId: `h${i % 5}`, reason: `append ${i}` } });

describe.skipIf(skip)("following EVENTS while the node holding the follower's consumer is down", () => {
  let cluster: TestNatsCluster;
  let writer: Nats;
  let reader: Nats;
  beforeAll(async () => {
    cluster = await startNatsCluster(3);
    writer = await connectNats({ url: cluster.url, name: "writer" }, log);
    reader = await connectNats({ url: cluster.url, name: "reader" }, log);
    await ensureStreams(writer.jsm, log, undefined, { replicas: 3 });
  }, 120_000);
  afterAll(async () => {
    await reader?.nc.close();
    await writer?.nc.close();
    await cluster?.dispose();
  });

  it("delivers every later append, once and in order, without that node", async () => {
    const store = new EventStore(writer.js, writer.jsm);
    const got: number[] = [];
    const restarts: string[] = [];
    let killedAt = Date.now();
    const stop = await new EventStore(reader.js, reader.jsm).follow(
      subjects.allEvents,
      (e) => {
        if (e.type === "HostCordoned") got.push(Number(e.data.reason.replace("append ", "")));
      },
      { onRestart: (r) => restarts.push(`${r.reason} (from seq ${r.fromSeq}, ${Date.now() - killedAt} ms after the kill)`) },
    );
    let n = 0;
    const append = async () => {
      for (;;) {
        try {
          await store.append(cordon(n), { correlationId: "follow", msgId: `follow:${n}`, timeoutMs: 2_000 });
          return n++;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    for (let i = 0; i < 20; i++) await append();
    await waitFor("the follower to read the first 20", () => got.length >= 20, 30_000);

    const consumers = await writer.jsm.consumers.list("EVENTS").next();
    expect(consumers).toHaveLength(1); // the follower's, and only it
    const holder = consumers[0]!.cluster!.leader!;
    const node = cluster.nodes.find((x) => x.name === holder)!;
    killedAt = Date.now();
    await node.kill9();
    const firstAfter = n;
    let recoveredMs = -1;
    const writing = (async () => {
      while (recoveredMs < 0 && Date.now() - killedAt < 90_000) {
        await append();
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await waitFor(`an append made after ${holder} died to reach the follower (${holder} stays down)`, () => got.some((x) => x >= firstAfter), 90_000, 100);
    recoveredMs = Date.now() - killedAt;
    await writing;
    const last = n - 1;
    await waitFor("the follower to catch up", () => got.includes(last), 30_000);
    await stop();
    expect(got).toEqual([...Array(last + 1).keys()]); // in order, nothing twice, nothing skipped
    const info = await writer.jsm.streams.info("EVENTS");
    console.log(JSON.stringify({ test: "ordered-follow-node-loss", holder, streamLeaderAfter: info.cluster?.leader, recoveredMs, appended: n, restarts }));
    await node.restart();
  }, 180_000);
});
