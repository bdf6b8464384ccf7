import { generateKeyPairSync } from "node:crypto";
import type { DomainEvent, Stored } from "@oneshot/proto";
import { sealedBox } from "@oneshot/runtime";
import { describe, expect, it } from "vitest";
import { checkRequest, type RequestFacts } from "./check-request.js";

const key = sealedBox.rawPublicKey(generateKeyPairSync("x25519").publicKey);
let seq = 0;
const stored = (e: DomainEvent): Stored<DomainEvent> =>
  ({ ...e, id: `e${++seq}`, version: 1, occurredAt: "2026-11-28T10:00:00Z", correlationId: "c", causationId: null, subject: "s", seq }) as Stored<DomainEvent>;
const spec = { arch: "amd64", vcpus: 2, memMiB: 2048, diskGiB: 10, image: "full", timeoutSec: 600 } as const;
const queued = (provider: "github" | "gitlab" | "local", extra: object = {}) =>
  stored({
    type: "JobQueued",
    data: { jobId: "gh-1", spec, source: { provider, repo: "acme/w", org: "acme", providerJobId: "1", labels: ["oneshot"], ...extra } },
  });
const boot = stored({ type: "VmBootRequested", data: { hostId: "h1", vmId: "vm1", jobId: "gh-1", tap: null, disks: [] } });
const facts = (o: Partial<RequestFacts> = {}): RequestFacts => ({
  subject: "rpc.runner.config.h1",
  request: { hostId: "h1", jobId: "gh-1", vmId: "vm1", publicKey: key },
  vmEvents: [boot],
  jobEvents: [queued("github", { installationId: 42 })],
  registeredKey: key,
  placement: { jobId: "gh-1", attempt: 0 },
  ...o,
});

describe("may a runner config be minted for this request?", () => {
  it("yes, for the host that accepted this job's VM, with its registered key", () => {
    expect(checkRequest(facts())).toMatchObject({ ok: true, source: { provider: "github", installationId: 42 } });
  });

  it("whatever the provider: whether it mints at all is the provider's to say (providers/registry.unit.test.ts)", () => {
    for (const p of ["github", "gitlab", "local"] as const)
      expect(checkRequest(facts({ jobEvents: [queued(p)] })), p).toMatchObject({ ok: true, source: { provider: p } });
  });

  it.each([
    ["the subject is another host's", { subject: "rpc.runner.config.h2" }, "wrong-host"],
    ["no VmBootRequested on that VM", { vmEvents: [] }, "wrong-host"],
    [
      "the VM was accepted for another job",
      { vmEvents: [stored({ type: "VmBootRequested", data: { hostId: "h1", vmId: "vm1", jobId: "gh-2", tap: null, disks: [] } })] },
      "wrong-host",
    ],
    [
      "the VM already ended",
      { vmEvents: [boot, stored({ type: "VmDestroyed", data: { hostId: "h1", vmId: "vm1", jobId: "gh-1", removed: [] } })] },
      "not-runnable",
    ],
    ["the key is not the registered one", { registeredKey: sealedBox.rawPublicKey(generateKeyPairSync("x25519").publicKey) }, "wrong-host"],
    ["the host never registered", { registeredKey: undefined }, "wrong-host"],
    ["the key is not an X25519 key", { request: { hostId: "h1", jobId: "gh-1", vmId: "vm1", publicKey: "abc" } }, "invalid"],
    ["the job was never queued", { jobEvents: [] }, "not-found"],
    ["the scheduler never placed it on this host (a host minting for another's work)", { placement: undefined }, "wrong-host"],
    ["the scheduler placed another job on that VM", { placement: { jobId: "gh-2", attempt: 0 } }, "wrong-host"],
    [
      "the VM is a stale attempt (the job was requeued since)",
      {
        jobEvents: [
          queued("github", { installationId: 42 }),
          stored({ type: "JobRequeued", data: { jobId: "gh-1", fromHostId: "h1", vmId: "vm1", reason: "x", attempt: 1, releasesVm: false } }),
        ],
      },
      "not-runnable",
    ],
    [
      "the job already ended",
      { jobEvents: [queued("github", { installationId: 42 }), stored({ type: "JobCancelled", data: { jobId: "gh-1", reason: "x" } })] },
      "not-runnable",
    ],
  ] as const)("no: %s", (_, o, code) => {
    expect(checkRequest(facts(o as Partial<RequestFacts>))).toMatchObject({ ok: false, code });
  });
});
