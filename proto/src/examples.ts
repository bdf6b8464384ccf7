import type { MessageOf, MessageType } from "./catalog.js";
import type { JobSpec } from "./common.js";
import type { JobSource } from "./events/job.js";

const spec: JobSpec = { arch: "amd64", vcpus: 2, memMiB: 2048, diskGiB: 10, image: "minimal", timeoutSec: 600 };
const source: JobSource = {
  provider: "github", repo: "acme/widgets", org: "acme", providerJobId: "29679449",
  runId: "10371460", runAttempt: 1, labels: ["self-hosted", "oneshot-2cpu-2gb"], installationId: 42,
};
const ref = { vmId: "k3j9x2ab", hostId: "metal-01", jobId: "gh-29679449" } as const;
const sealed = { alg: "x25519-hkdf-sha256-aes256gcm", ephemeralPublicKey: "AAAA", iv: "AAAA", tag: "AAAA", ciphertext: "AAAA" } as const;

/** One example of the latest version of every message: the source of new golden files. */
export const examples: { [T in MessageType]: MessageOf<T>["data"] } = {
  JobQueued: { jobId: "gh-29679449", source: { ...source, labels: [...source.labels, "net-500mbit"] }, spec: { ...spec, netMbit: 500 } },
  JobIgnored: { jobId: "gh-29679450", source: { ...source, labels: ["ubuntu-latest"] }, reason: "no oneshot label" },
  JobScheduled: { jobId: "gh-29679449", hostId: "metal-01", vmId: "w4k2m8c1x9q0", spec: { ...spec, netMbit: 500 }, attempt: 0, start: "warm" },
  JobUnschedulable: { jobId: "gh-29679451", reason: "no arm64 host has 64 vCPUs" },
  JobStarted: { jobId: "gh-29679449", runnerName: "oneshot-metal-01-k3j9x2ab", hostId: "metal-01", vmId: "k3j9x2ab", reportedBy: "reconcile", reason: "GET /repos/acme/widgets/actions/jobs/29679449: in_progress on oneshot-metal-01-k3j9x2ab" },
  JobCompleted: { jobId: "gh-29679449", conclusion: "success", exitCode: 0, reportedBy: "reconcile", reason: "GET /repos/acme/widgets/actions/jobs/29679449: completed (success)" },
  JobCancelled: { jobId: "gh-29679449", reason: "completed (cancelled) before it started" },
  JobRequeued: { jobId: "gh-29679449", fromHostId: "metal-01", vmId: "k3j9x2ab", reason: "its VM's runner took job gh-29679452", attempt: 1, releasesVm: false },
  JobRebound: { jobId: "gh-29679449", hostId: "metal-01", vmId: "p8q7r6s5t4", fromVmId: "k3j9x2ab", reason: "its VM's runner took job gh-29679452, whose VM p8q7r6s5t4 is idle and covers its labels" },
  JobFailed: { jobId: "gh-29679449", reason: "boot failed 3 times", hostId: "metal-01", vmId: "k3j9x2ab" },
  HostRegistered: {
    hostId: "metal-01", arch: "amd64", capacity: { vcpus: 14, memMiB: 57344, diskGiB: 400 }, labels: ["ssd"],
    vmm: "qemu", accel: "tcg", emulated: false, images: ["minimal"], publicKey: "AAAA", version: "0.1.0",
  },
  HostCordoned: { hostId: "metal-01", reason: "disk replacement" },
  HostUncordoned: { hostId: "metal-01", reason: "disk replaced" },
  HostDrained: { hostId: "metal-01", reason: "kernel upgrade" },
  HostLost: { hostId: "metal-01", lastSeenAt: "2026-11-28T10:00:00.000Z", reason: "no heartbeat for 60s" },
  HostDeregistered: { hostId: "metal-01", reason: "drained" },
  HostFenced: { hostId: "metal-01", registeredSeq: 41, lostSeq: 57, trigger: "host-lost", vmsStopped: ["k3j9x2ab"], reason: "read HostLost (seq 57) for this host: stopped 1 VM before registering again" },
  HostLeaseExpired: { hostId: "metal-01", registeredSeq: 41, lostSeq: 57, waitedSec: 45, reason: "no HostFenced 45s after HostLost (JANITOR_FENCE_WAIT 45s)" },
  PlacementExpired: { hostId: "metal-01", vmId: "k3j9x2ab", jobId: "gh-29679449", attempt: 0, waitedSec: 300, reason: "no VmBootRequested 300s after JobScheduled (JANITOR_PLACEMENT_TIMEOUT 300s)" },
  VmBootRequested: { ...ref, tap: "os-k3j9x2ab", disks: ["/var/lib/oneshot/vms/k3j9x2ab/root.qcow2"] },
  VmBooted: {
    ...ref, vmm: "qemu", accel: "tcg", pid: 4242,
    timings: { diskMs: 6, configMs: 9, netMs: 12, vmmStartMs: 30, agentReadyMs: 1900, totalMs: 1960 },
    start: "warm", handOverMs: 41,
  },
  VmWarmed: {
    hostId: "metal-01", vmId: "w4k2m8c1x9q0", shape: { arch: "amd64", vcpus: 2, memMiB: 2048, diskGiB: 10, image: "minimal" }, vmm: "qemu", accel: "tcg",
    timings: { diskMs: 6, configMs: 9, netMs: 12, vmmStartMs: 30, agentReadyMs: 1900, totalMs: 1960 },
  },
  WarmVmRetired: { hostId: "metal-01", vmId: "w4k2m8c1x9q0", reason: "max-age", detail: "warm for 3600s (HOSTD_WARM_MAX_AGE_SEC 3600)", removed: ["process:4242", "tap:os-w4k2m8c1x9q0"] },
  VmBootFailed: { ...ref, code: "agent-timeout", reason: "no ready marker after 120s", consoleTail: "tsc: Unable to calibrate" },
  VmExited: { ...ref, exitCode: 3, reason: "exited", runMs: 2500 },
  VmDestroyed: { ...ref, removed: ["process:4242", "tap:os-k3j9x2ab", "nft:oneshot:k3j9x2ab", "dir:/var/lib/oneshot/vms/k3j9x2ab"] },
  VmIdle: {
    hostId: "metal-01", vmId: "k3j9x2ab", bootedForJobId: "gh-29679449", runnerName: "oneshot-metal-01-k3j9x2ab",
    reason: "job gh-29679449 ran on another runner; no queued job its labels cover", candidateJobIds: ["gh-29679453"],
  },
  VmRetired: { hostId: "metal-01", vmId: "k3j9x2ab", reason: "runner oneshot-metal-01-k3j9x2ab removed from GitHub: no job took it" },
  VmVanished: { hostId: "metal-01", vmId: "k3j9x2ab", jobId: "gh-29679449", reason: "not in the host's inventory for 30s" },
  VmIsolationLost: { ...ref, action: "killed", reason: "cannot restore isolation rules: nft -f - exited 1: Error: Could not process rule: Operation not permitted" },
  DeliveryRedelivered: {
    provider: "github", deliveryId: "12345678", guid: "0b989ba4-242f-11e5-81e1-c7b6966d2516", event: "workflow_job", action: "queued",
    statusCode: 503, deliveredAt: "2026-11-28T09:58:00Z", reason: "failed delivery (503) redelivered",
  },
  ReclaimRequested: {
    hostId: "metal-01", reclaimId: "r-0192", reason: "tap with no live VM",
    resources: [{ kind: "tap", name: "os-k3j9x2ab", vmId: "k3j9x2ab" }],
  },
  ResourceReclaimed: {
    hostId: "metal-01", reclaimId: "r-0192", reclaimed: [{ kind: "tap", name: "os-k3j9x2ab", vmId: "k3j9x2ab" }], failed: [],
  },
  HostHeartbeat: {
    hostId: "metal-01", runningVms: 1, used: { vcpus: 2, memMiB: 2048, diskGiB: 10 },
    capacity: { vcpus: 14, memMiB: 57344, diskGiB: 400 }, accel: "tcg", draining: false, uptimeSec: 3600,
  },
  HostInventory: {
    hostId: "metal-01", vms: [{ vmId: "k3j9x2ab", pid: 4242, jobId: "gh-29679449" }], taps: ["os-k3j9x2ab"],
    disks: ["/var/lib/oneshot/vms/k3j9x2ab/root.qcow2"], nftRules: ["oneshot:k3j9x2ab"], runDirs: ["/var/lib/oneshot/vms/k3j9x2ab"],
  },
  VmOutput: { hostId: "metal-01", vmId: "k3j9x2ab", jobId: "gh-29679449", text: "hi\n", offset: 0 },
  RunnerConfigRequest: { hostId: "metal-01", jobId: "gh-29679449", vmId: "k3j9x2ab", publicKey: "AAAA" },
  RunnerConfigReply: { jobId: "gh-29679449", result: { ok: true, provider: "github", runnerName: "oneshot-metal-01-k3j9x2ab", sealed } },
};

export const goldenMeta = {
  id: "019375e0-0000-7000-8000-000000000001",
  occurredAt: "2026-11-28T10:00:00.000Z",
  correlationId: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
  causationId: null,
};
