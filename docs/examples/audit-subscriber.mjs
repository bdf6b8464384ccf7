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
for await (const m of await events.consume()) {
  const e = unpack(m.data); // plain MessagePack: {id, type, version, occurredAt, correlationId, causationId, data}
  console.log(m.seq, m.subject, e.type, JSON.stringify(e.data));
  if (process.argv.includes("--once") && m.info.pending === 0) break;
}
await nc.close();
