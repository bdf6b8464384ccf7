// `npm run bench -- eventstore [--n 5000]`: the event store against a real nats-server.
// Each case is reported with a ratio to a baseline measured in the same run:
//   append (encode + zod validate + publish, awaited one by one) vs bare js.publish of the same bytes;
//   replay (ordered consumer + decode + validate) vs a bare ordered consumer that only counts.
import { parseArgs } from "node:util";
import { DeliverPolicy } from "@nats-io/jetstream";
import { encode, type DomainEvent } from "@oneshot/proto";
import { connectTest, startNats } from "@oneshot/testing";

const { values } = parseArgs({ options: { n: { type: "string", default: "5000" } } });
const n = Number(values.n);
const server = await startNats();
const { nats, store, close } = await connectTest(server.url, "bench");
const event = (i: number): DomainEvent => ({
  type: "JobQueued",
  data: {
    jobId: `bench-${i}`,
    source: {
      provider: "github",
      repo: "acme/widgets",
      org: "acme",
      providerJobId: String(i),
      labels: ["self-hosted", "oneshot-2cpu-4gb"],
      runId: "1",
      runAttempt: 1,
    },
    spec: { arch: "amd64", vcpus: 2, memMiB: 4096, diskGiB: 10, image: "minimal", timeoutSec: 3600 },
  },
});
const meta = { id: "019375e0-0000-7000-8000-000000000001", occurredAt: new Date().toISOString(), correlationId: "bench", causationId: null };
const rate = (count: number, ms: number) => Math.round((count * 1000) / ms);
const line = (o: Record<string, unknown>) => console.log(JSON.stringify(o));

// Baseline: bare publishes of pre-encoded bytes, awaited one by one.
const bytes = encode(event(0), meta);
let t = performance.now();
for (let i = 0; i < n; i++) await nats.js.publish(`evt.job.base-${i}`, bytes);
const baseAppend = rate(n, performance.now() - t);

t = performance.now();
for (let i = 0; i < n; i++) await store.append(event(i), { correlationId: "bench", msgId: `bench-${i}` });
const appendRate = rate(n, performance.now() - t);
line({ case: "append", n, eventsPerSec: appendRate, baselinePublishPerSec: baseAppend, ratio: +(appendRate / baseAppend).toFixed(3) });

// Appends with optimistic concurrency on one aggregate (the scheduler's path).
let last = await store.lastSeq("evt.job.occ");
t = performance.now();
const occ = event(0);
(occ.data as { jobId: string }).jobId = "occ";
for (let i = 0; i < n / 5; i++) last = (await store.append(occ, { correlationId: "bench", expectedLastSubjectSeq: last })).seq;
const occRate = rate(n / 5, performance.now() - t);
line({ case: "append-expected-seq", n: n / 5, eventsPerSec: occRate, ratio: +(occRate / baseAppend).toFixed(3) });

// Baseline replay: an ordered consumer that only counts messages.
const total = (await nats.jsm.streams.info("EVENTS")).state.last_seq;
t = performance.now();
const oc = await nats.js.consumers.get("EVENTS", { filter_subjects: "evt.>", deliver_policy: DeliverPolicy.All });
const it = await oc.consume({ max_messages: 1000 });
let seen = 0;
for await (const m of it) {
  seen++;
  if (m.info.pending === 0) break;
}
await it.close();
const baseReplay = rate(seen, performance.now() - t);

const report = await store.replay("evt.>", () => undefined);
line({
  case: "replay",
  events: report.count,
  eventsPerSec: report.eventsPerSec,
  baselineConsumePerSec: baseReplay,
  ratio: +(report.eventsPerSec / baseReplay).toFixed(3),
  streamLastSeq: total,
});

await close();
await server.dispose();
