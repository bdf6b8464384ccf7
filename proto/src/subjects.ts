import type { DomainEvent } from "./catalog.js";

/**
 * Subject map. One subject per aggregate so `Nats-Expected-Last-Subject-Sequence` guards it:
 *   evt.job.<jobId>              job lifecycle (ingest, scheduler)
 *   evt.host.<hostId>            what hostd must act on, in order: placements (JobScheduled),
 *                                operator and janitor decisions, reclaim requests. hostd
 *                                reads it (its durable) and may NOT write it.
 *   evt.host.<hostId>.self       what hostd says about itself: registration, its own
 *                                deregistration, reclaim results, fences. Only that hostd writes it.
 *   evt.host.<hostId>.vm.<vmId>  VM lifecycle, written only by that host's hostd
 *   tel.host.<hostId>.{heartbeat,inventory}   telemetry, short retention
 *   log.host.<hostId>.vm.<vmId>  guest console lines, short retention
 *   evt.provider.<provider>      reconciler decisions about deliveries (DeliveryRedelivered)
 *   rpc.runner.config.<hostId>   hostd → ingest request/reply, never stored
 *   dlq.<consumer>               poison messages with the reason
 */
export const subjects = {
  job: (jobId: string) => `evt.job.${jobId}`,
  host: (hostId: string) => `evt.host.${hostId}`,
  hostSelf: (hostId: string) => `evt.host.${hostId}.self`,
  vm: (hostId: string, vmId: string) => `evt.host.${hostId}.vm.${vmId}`,
  provider: (provider: string) => `evt.provider.${provider}`,
  heartbeat: (hostId: string) => `tel.host.${hostId}.heartbeat`,
  inventory: (hostId: string) => `tel.host.${hostId}.inventory`,
  vmLog: (hostId: string, vmId: string) => `log.host.${hostId}.vm.${vmId}`,
  runnerConfig: (hostId: string) => `rpc.runner.config.${hostId}`,
  dlq: (consumer: string) => `dlq.${consumer}`,
  allEvents: "evt.>",
  allJobs: "evt.job.*",
  allHosts: "evt.host.*",
  allVms: "evt.host.*.vm.*",
  hostVms: (hostId: string) => `evt.host.${hostId}.vm.*`,
  allHeartbeats: "tel.host.*.heartbeat",
  allInventories: "tel.host.*.inventory",
  allRunnerConfig: "rpc.runner.config.*",
} as const;

export interface StreamDef {
  name: string;
  subjects: string[];
  /** Seconds; 0 = keep forever. */
  maxAgeSec: number;
  maxMsgsPerSubject: number;
  maxBytes: number;
  /** Seconds during which a repeated Nats-Msg-Id is dropped. */
  duplicateWindowSec: number;
}

export const streams = {
  /** The audit log: kept forever, replayable from sequence 1. */
  events: { name: "EVENTS", subjects: ["evt.>"], maxAgeSec: 0, maxMsgsPerSubject: -1, maxBytes: -1, duplicateWindowSec: 3600 },
  telemetry: { name: "TELEMETRY", subjects: ["tel.>"], maxAgeSec: 3600, maxMsgsPerSubject: 5, maxBytes: 256 * 1024 * 1024, duplicateWindowSec: 60 },
  logs: { name: "LOGS", subjects: ["log.>"], maxAgeSec: 24 * 3600, maxMsgsPerSubject: -1, maxBytes: 1024 * 1024 * 1024, duplicateWindowSec: 60 },
  dlq: { name: "DLQ", subjects: ["dlq.>"], maxAgeSec: 30 * 24 * 3600, maxMsgsPerSubject: -1, maxBytes: 256 * 1024 * 1024, duplicateWindowSec: 60 },
} as const satisfies Record<string, StreamDef>;

/** The subject an event is appended to: derived from the event, never chosen by callers. */
export function subjectOf(event: DomainEvent): string {
  switch (event.type) {
    case "JobQueued":
    case "JobIgnored":
    case "JobUnschedulable":
    case "JobStarted":
    case "JobCompleted":
    case "JobCancelled":
    case "JobRequeued":
    case "JobFailed":
    case "JobRebound":
      return subjects.job(event.data.jobId);
    case "JobScheduled":
      return subjects.host(event.data.hostId);
    case "HostRegistered":
    case "ResourceReclaimed":
    case "HostFenced":
      return subjects.hostSelf(event.data.hostId);
    case "HostCordoned":
    case "HostUncordoned":
    case "HostDrained":
    case "HostLost":
    case "HostDeregistered":
    case "ReclaimRequested":
    case "VmIdle":
    case "VmRetired":
    case "VmVanished":
    case "HostLeaseExpired":
    case "PlacementExpired":
      return subjects.host(event.data.hostId);
    case "DeliveryRedelivered":
      return subjects.provider(event.data.provider);
    case "VmBootRequested":
    case "VmBooted":
    case "VmBootFailed":
    case "VmExited":
    case "VmDestroyed":
    case "VmIsolationLost":
    case "VmWarmed":
    case "WarmVmRetired":
    case "VmEgressDenied":
      return subjects.vm(event.data.hostId, event.data.vmId);
    default: {
      const never: never = event;
      throw new Error(`no subject for ${(never as { type: string }).type}`);
    }
  }
}

/** Parses `evt.job.<id>` / `evt.host.<id>[.vm.<vmId>]` / `evt.provider.<p>` back into ids. */
export function parseSubject(subject: string): { jobId?: string; hostId?: string; vmId?: string; provider?: string } {
  const p = subject.split(".");
  if (p[1] === "provider") return { provider: p[2] };
  if (p[1] === "job") return { jobId: p[2] };
  if (p[1] === "host") return p[3] === "vm" ? { hostId: p[2], vmId: p[4] } : { hostId: p[2] }; // incl. evt.host.<h>.self
  return {};
}
