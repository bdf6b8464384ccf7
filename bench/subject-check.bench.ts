// `npm run bench -- subject-check [--n 200000] [--rounds 5]`: what proto's subject table costs on
// replay. The same synthetic, valid log (bench/synthetic-log.ts) is decoded twice per round, in
// the same process: decode only (the baseline), and decode + `misplacement` (what every reader
// does since the subject table, via runtime's decodeMsg). Rounds alternate to even out JIT and
// GC; the figure is the median round. CPU only: no NATS in the way, so the ratio is the check's
// whole cost, an upper bound of its share in a real replay (which also waits on the network).
import { parseArgs } from "node:util";
import { decode, encode, misplacement, subjectOf } from "@oneshot/proto";
import { syntheticLog } from "./synthetic-log.js";

const { values } = parseArgs({ options: { n: { type: "string", default: "200000" }, rounds: { type: "string", default: "5" } } });
const n = Number(values.n);
const rounds = Number(values.rounds);
const meta = { id: "019375e0-0000-7000-8000-000000000001", occurredAt: new Date().toISOString(), correlationId: "bench", causationId: null };
const log = [...syntheticLog(n)].map((e, i) => ({ subject: subjectOf(e), seq: i + 1, data: encode(e, meta) }));

function pass(check: boolean): number {
  let bad = 0;
  const t = performance.now();
  for (const m of log) {
    const d = decode(m.data, { subject: m.subject, seq: m.seq });
    if (check && misplacement(d.type, d.data, m.subject) !== undefined) bad++;
  }
  const ms = performance.now() - t;
  if (bad) throw new Error(`${bad} synthetic events are misplaced: the bench log is wrong`);
  return (log.length * 1000) / ms;
}

const base: number[] = [];
const checked: number[] = [];
pass(false); // warm-up
pass(true);
for (let r = 0; r < rounds; r++) {
  // Alternate which goes first: the second pass of a round pays for the first one's garbage.
  if (r % 2) {
    checked.push(pass(true));
    base.push(pass(false));
  } else {
    base.push(pass(false));
    checked.push(pass(true));
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  JSON.stringify({
    bench: "subject-check",
    events: log.length,
    rounds,
    decodePerSec: Math.round(median(base)),
    decodeAndCheckPerSec: Math.round(median(checked)),
    ratio: Number((median(checked) / median(base)).toFixed(3)),
  }),
);
