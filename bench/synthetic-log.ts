// A synthetic but valid event log with the shape of real history, for the replay benches:
// per window of jobs, every job is queued, placed, booted, started, run, completed and its VM
// destroyed; alongside them, deliveries for GitHub-hosted jobs of the same organisations are
// ignored (the bulk of a real installation's webhooks). Every event passes proto's schema and
// subject table, so the scheduler's replay reads it exactly as it reads production.
import { vmIdFor, type DomainEvent } from "@oneshot/proto";

const GiB = 1024;
export const SYNTHETIC_HOSTS = 20;

const host = (i: number): DomainEvent => ({
  type: "HostRegistered",
  data: {
    hostId: `h${i}`,
    arch: i % 2 ? "arm64" : "amd64",
    capacity: { vcpus: 512, memMiB: 2048 * GiB, diskGiB: 100_000 },
    labels: [],
    vmm: "qemu",
    accel: "kvm",
    emulated: false,
    images: ["minimal"],
    publicKey: "AAAA",
    version: "bench",
  },
});

const source = (n: number, org: string) => ({
  provider: "github" as const,
  repo: `${org}/repo${n % 7}`,
  org,
  providerJobId: String(n),
  labels: ["self-hosted", "oneshot-2cpu-4gb"],
  runId: String(n >> 3),
  runAttempt: 1,
});
const timings = { diskMs: 1, configMs: 1, netMs: 1, vmmStartMs: 1, agentReadyMs: 1, totalMs: 5 };

/** The lifecycle of one of our jobs (8 events) and one ignored hosted job (1 event). */
function jobLifecycle(n: number): DomainEvent[][] {
  const jobId = `gh-${n}`;
  const org = `org${n % 8}`;
  const hostId = `h${n % SYNTHETIC_HOSTS}`;
  const vmId = vmIdFor(jobId, 0);
  const arch = (n % SYNTHETIC_HOSTS) % 2 ? "arm64" : "amd64";
  const spec = { arch, vcpus: 2, memMiB: 4 * GiB, diskGiB: 10, image: "minimal", timeoutSec: 3600 } as const;
  const vm = { hostId, vmId, jobId };
  return [
    [{ type: "JobQueued", data: { jobId, source: source(n, org), spec } }],
    [{ type: "JobScheduled", data: { jobId, hostId, vmId, spec, attempt: 0 } }],
    [
      { type: "VmBootRequested", data: { ...vm, tap: null, disks: [] } },
      { type: "VmBooted", data: { ...vm, vmm: "qemu", accel: "kvm", pid: 1, timings } },
    ],
    [{ type: "JobStarted", data: { jobId, runnerName: `oneshot-${hostId}-${vmId}`, hostId, vmId, reportedBy: "webhook" } }],
    [
      { type: "JobCompleted", data: { jobId, conclusion: "success", exitCode: null, reportedBy: "provider" } },
      { type: "VmExited", data: { ...vm, exitCode: 0, reason: "exited", runMs: 10 } },
      { type: "VmDestroyed", data: { ...vm, removed: [] } },
      { type: "JobIgnored", data: { jobId: `gh-h${n}`, source: { ...source(n, org), labels: ["ubuntu-latest"] }, reason: "no oneshot label" } },
    ],
  ];
}

/**
 * `total` events in log order (hosts first), in windows of `window` jobs whose stages
 * interleave as concurrent jobs do. Yields arrays so callers can pipeline publishes.
 */
export function* syntheticLog(total: number, window = 100): Generator<DomainEvent> {
  let emitted = 0;
  for (let i = 0; i < SYNTHETIC_HOSTS && emitted < total; i++, emitted++) yield host(i);
  for (let base = 0; emitted < total; base += window) {
    const jobs = Array.from({ length: window }, (_, k) => jobLifecycle(base + k));
    for (let stage = 0; stage < jobs[0]!.length; stage++) {
      for (const j of jobs) {
        for (const e of j[stage]!) {
          if (emitted++ >= total) return;
          yield e;
        }
      }
    }
  }
}
