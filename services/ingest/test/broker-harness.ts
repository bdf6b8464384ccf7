// The hostd side of the runner-config RPC, simulated by the tests: a host with a real X25519
// key pair registers, accepts a placement (VmBootRequested), asks, and opens the sealed box.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { decode, encode, subjects, vmIdFor, type JobSource, type RunnerConfigReply } from "@oneshot/proto";
import { newEventId, sealedBox, type EventStore, type Nats } from "@oneshot/runtime";

export const spec = { arch: "amd64", vcpus: 2, memMiB: 2048, diskGiB: 10, image: "minimal", timeoutSec: 600 } as const;

export interface FakeHost {
  hostId: string;
  publicKey: string;
  privateKey: KeyObject;
  /** Appends the scheduler's JobScheduled and the host's VmBootRequested for the job's placement; returns its VM id. */
  accept(jobId: string, attempt?: number): Promise<string>;
  ask(jobId: string, vmId: string, o?: { publicKey?: string; subjectHost?: string; raw?: Uint8Array }): Promise<RunnerConfigReply["data"]["result"]>;
  open(box: Extract<RunnerConfigReply["data"]["result"], { ok: true }>["sealed"]): string;
}

/**
 * A host as the broker sees it. `store` writes what the host writes (HostRegistered on its
 * `.self` subject, VmBootRequested); `scheduler` writes the placement (JobScheduled on the host
 * subject, which a hostd's identity may not write), default the same store.
 */
export async function registerHost(nats: Nats, store: EventStore, hostId: string, scheduler: EventStore = store): Promise<FakeHost> {
  const keys = generateKeyPairSync("x25519");
  const publicKey = sealedBox.rawPublicKey(keys.publicKey);
  await store.append(
    {
      type: "HostRegistered",
      data: {
        hostId,
        arch: "amd64",
        capacity: { vcpus: 8, memMiB: 8192, diskGiB: 100 },
        labels: [],
        vmm: "qemu",
        accel: "tcg",
        emulated: false,
        images: ["minimal"],
        publicKey,
        version: "test",
      },
    },
    { correlationId: `host-${hostId}` },
  );
  return {
    hostId,
    publicKey,
    privateKey: keys.privateKey,
    accept: async (jobId, attempt = 0) => {
      const vmId = vmIdFor(jobId, attempt);
      // The scheduler's placement on this host, then the host's acceptance of it.
      await scheduler.append(
        { type: "JobScheduled", data: { jobId, hostId, vmId, spec, attempt } },
        { correlationId: jobId, msgId: `sched:${jobId}:${attempt}` },
      );
      await store.append(
        { type: "VmBootRequested", data: { hostId, vmId, jobId, tap: `os-${vmId}`, disks: [] } },
        { correlationId: jobId, msgId: `vm:${vmId}:VmBootRequested` },
      );
      return vmId;
    },
    ask: async (jobId, vmId, o = {}) => {
      const bytes =
        o.raw ??
        encode(
          { type: "RunnerConfigRequest", data: { hostId, jobId, vmId, publicKey: o.publicKey ?? publicKey } },
          { id: newEventId(), occurredAt: new Date().toISOString(), correlationId: `corr-${jobId}`, causationId: null },
        );
      const m = await nats.nc.request(subjects.runnerConfig(o.subjectHost ?? hostId), bytes, { timeout: 10_000 });
      const reply = decode(m.data);
      if (reply.type !== "RunnerConfigReply") throw new Error(`unexpected ${reply.type}`);
      return (reply.data as RunnerConfigReply["data"]).result;
    },
    open: (box) => sealedBox.open(box, keys.privateKey),
  };
}

export async function queueJob(store: EventStore, jobId: string, source: Partial<JobSource> & Pick<JobSource, "provider">): Promise<void> {
  await store.append(
    {
      type: "JobQueued",
      data: {
        jobId,
        spec,
        source: { repo: "acme/widgets", org: "acme", providerJobId: jobId.slice(3), labels: ["self-hosted", "oneshot-2cpu-2gb"], ...source },
      },
    },
    { correlationId: `delivery-${jobId}` },
  );
}
