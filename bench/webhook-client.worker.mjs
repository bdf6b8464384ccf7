// The load generator of bench/ingest.bench.ts, on its own thread: GitHub is not in ingest's
// process, so its HTTP client must not share ingest's event loop (it did before: a third of the
// measured time was the client's). Plain JS so the worker needs no TypeScript loader.
// In: { url, concurrency, requests: [{ body: string, signature: string, delivery: string }] }.
// Out: { ready } once set up (then it waits for any message), then { perSec, lat: number[] } or { error }.
import { Agent, request } from "node:http";
import { parentPort, workerData } from "node:worker_threads";

const { url, concurrency, requests } = workerData;
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
const bodies = requests.map((r) => Buffer.from(r.body));

const send = (i) =>
  new Promise((resolve, reject) => {
    const r = requests[i];
    const req = request(
      url,
      {
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": String(bodies[i].length),
          "x-github-event": "workflow_job",
          "x-github-delivery": r.delivery,
          "x-hub-signature-256": r.signature,
        },
      },
      (res) => {
        let text = "";
        res.on("data", (d) => (text += d.toString()));
        res.on("end", () => (res.statusCode === 202 ? resolve() : reject(new Error(`ingest answered ${res.statusCode}: ${text}`))));
      },
    );
    req.on("error", reject);
    req.end(bodies[i]);
  });

// Ready (the bodies are built): the bench starts its clocks, then says go.
parentPort.postMessage({ ready: true });
await new Promise((r) => parentPort.once("message", r));
const lat = [];
let next = 0;
const t = performance.now();
try {
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests.length) {
        const i = next++;
        const t0 = performance.now();
        await send(i);
        lat.push(performance.now() - t0);
      }
    }),
  );
  parentPort.postMessage({ perSec: Math.round((requests.length * 1000) / (performance.now() - t)), lat });
} catch (e) {
  parentPort.postMessage({ error: String(e?.message ?? e) });
}
agent.destroy();
