// A fleet for integration tests and benches: hosts, a burst of jobs, a stand-in for hostd
// that "runs" each placed VM for a moment then destroys it, and a tally of what the log says.
import { subjects, type Arch, type DomainEvent, type Stored } from "@oneshot/proto";
import type { EventStore } from "@oneshot/runtime";
import { queued, registered, started, vmDestroyed, vmExited, type JobOpts } from "./fixtures.js";

export const fleetHosts = (n: number): DomainEvent[] =>
  Array.from({ length: n }, (_, i) =>
    i % 2 === 0
      ? registered(`amd-${i}`, { arch: "amd64", vcpus: 16, memMiB: 32768, diskGiB: 400 })
      : registered(`arm-${i}`, { arch: "arm64", vcpus: 8, memMiB: 16384, diskGiB: 200 }),
  );

const sizes: [number, number][] = [
  [1, 1024],
  [1, 2048],
  [2, 2048],
  [2, 4096],
  [4, 8192],
  [8, 16384],
];

/** `n` jobs of mixed sizes and arches from 4 orgs; half local (the scheduler completes them), half GitHub. */
export const burstJobs = (n: number, prefix = "j"): DomainEvent[] =>
  Array.from({ length: n }, (_, i) => {
    const [vcpus, memMiB] = sizes[(i * 7) % sizes.length]!;
    const arch: Arch = i % 3 === 0 ? "arm64" : "amd64";
    const o: JobOpts = { arch, vcpus, memMiB, diskGiB: 10 + (i % 4) * 10, org: `org${i % 4}`, provider: i % 2 ? "local" : "github" };
    return queued(`${prefix}${i}`, o);
  });

/** Appends events `parallel` at a time, as a burst of webhooks would arrive. */
export async function appendAll(store: EventStore, events: DomainEvent[], parallel = 32): Promise<void> {
  const queue = [...events];
  const worker = async () => {
    for (let e = queue.shift(); e; e = queue.shift()) {
      const id = "vmId" in e.data && e.data.vmId ? e.data.vmId : "jobId" in e.data ? e.data.jobId : "hostId" in e.data ? e.data.hostId : e.data.provider;
      await store.append(e, { correlationId: `test-${id}`, msgId: `test:${e.type}:${id}` });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

/**
 * Stands in for every hostd: each JobScheduled's VM "runs" for `runMs()` (a provider VM's
 * runner starts its own job) then exits 0 and is destroyed, with hostd's message ids. Errors are collected, not thrown.
 */
export async function fakeHostd(store: EventStore, runMs: () => number, errors: unknown[]): Promise<() => Promise<void>> {
  const timers = new Set<NodeJS.Timeout>();
  const stop = await store.follow(subjects.allHosts, (e) => {
    if (e.type !== "JobScheduled") return;
    const ref = { hostId: e.data.hostId, vmId: e.data.vmId, jobId: e.data.jobId };
    const meta = { correlationId: e.correlationId, causationId: e.id };
    const t = setTimeout(() => {
      timers.delete(t);
      void (async () => {
        // A provider VM's runner takes its job (ingest's JobStarted from the webhook) before it exits.
        if (e.data.script === undefined) await store.append(started(ref.jobId, ref), { ...meta, msgId: `test:started:${ref.jobId}` });
        await store.append(vmExited(ref, 0), { ...meta, msgId: `vm:${ref.vmId}:VmExited` });
        await store.append(vmDestroyed(ref), { ...meta, msgId: `vm:${ref.vmId}:VmDestroyed` });
      })().catch((err: unknown) => errors.push(err));
    }, runMs());
    timers.add(t);
  });
  return async () => {
    for (const t of timers) clearTimeout(t);
    await stop();
  };
}

/** Counts what the log says as it grows. */
export class Tally {
  scheduled = new Set<string>();
  completed = new Set<string>();
  unschedulable = new Set<string>();
  requeued = new Set<string>();
  destroyed = 0;
  /** Job attempts placed more than once: a broken scheduler shows here long before a wait times out. */
  placedTwice: string[] = [];
  private attempts = new Set<string>();
  events: Stored<DomainEvent>[] = [];
  see = (e: Stored<DomainEvent>): void => {
    this.events.push(e);
    if (e.type === "JobScheduled") {
      const key = `${e.data.jobId}#${e.data.attempt}`;
      if (this.attempts.has(key)) this.placedTwice.push(key);
      this.attempts.add(key);
      this.scheduled.add(e.data.jobId);
    } else if (e.type === "JobCompleted") this.completed.add(e.data.jobId);
    else if (e.type === "JobUnschedulable") this.unschedulable.add(e.data.jobId);
    else if (e.type === "JobRequeued") this.requeued.add(e.data.jobId);
    else if (e.type === "VmDestroyed") this.destroyed++;
  };
}

/** The whole log, read back from the store. */
export async function readLog(store: EventStore): Promise<Stored<DomainEvent>[]> {
  const all: Stored<DomainEvent>[] = [];
  await store.replay(subjects.allEvents, (e) => void all.push(e));
  return all;
}
