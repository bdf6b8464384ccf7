// A read-only audit subscriber: the whole event log from sequence 1, then live (`--once`: stop
// when caught up). Run from the repository (its dependencies):
//   NATS_URL=tls://nats.example.internal:4222 NATS_CA_FILE=secrets/tls/ca.pem \
//   NATS_NKEY_FILE=secrets/identities/audit.nk node docs/examples/audit-subscriber.mjs
import { readFileSync } from "node:fs";
import { connect, nkeyAuthenticator } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { unpack } from "msgpackr";

const nc = await connect({
  servers: process.env.NATS_URL,
  tls: { caFile: process.env.NATS_CA_FILE }, // verify NATS's certificate against our CA
  authenticator: nkeyAuthenticator(new TextEncoder().encode(readFileSync(process.env.NATS_NKEY_FILE, "utf8").trim())),
  inboxPrefix: `_INBOX_${process.env.NATS_USER ?? "audit"}`, // the only inbox this identity may read
});
const events = await jetstream(nc).consumers.get("EVENTS", { filter_subjects: "evt.>" }); // an ordered consumer
// A short pull (4 s, not nats.js's 30 s) notices a lost NATS node in seconds. On a cluster, a
// long-lived reader should also start a new consumer from its last seq + 1 when the node holding
// this one dies (oneshot's own readers do: packages/runtime/src/ordered-follow.ts).
for await (const m of await events.consume({ expires: 4_000 })) {
  const e = unpack(m.data); // plain MessagePack: {id, type, version, occurredAt, correlationId, causationId, data}
  console.log(m.seq, m.subject, e.type, JSON.stringify(e.data));
  if (process.argv.includes("--once") && m.info.pending === 0) break;
}
await nc.close();
