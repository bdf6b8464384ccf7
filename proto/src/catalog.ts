import { z } from "zod";
import { hostEvents } from "./events/host.js";
import { janitorEvents } from "./events/janitor.js";
import {
  JobCompletedV1,
  JobQueuedV1,
  JobQueuedV2,
  JobRequeuedV1,
  JobScheduledV1,
  JobScheduledV2,
  JobScheduledV3,
  JobStartedV1,
  jobEvents,
} from "./events/job.js";
import { providerEvents } from "./events/provider.js";
import { VmBootedV1, vmEvents } from "./events/vm.js";
import { RunnerConfigReplyV1, rpcMessages } from "./rpc.js";
import { HostHeartbeatV1, HostHeartbeatV2, telemetryMessages } from "./telemetry.js";

/** Events of the audit log (stream EVENTS). */
export const DomainEvent = z.discriminatedUnion("type", [...jobEvents, ...hostEvents, ...vmEvents, ...janitorEvents, ...providerEvents]);
export type DomainEvent = z.infer<typeof DomainEvent>;
export type EventType = DomainEvent["type"];
export type EventOf<T extends EventType> = Extract<DomainEvent, { type: T }>;

/** Everything the codec carries: events, telemetry and RPC messages. */
export const Message = z.discriminatedUnion("type", [
  ...jobEvents,
  ...hostEvents,
  ...vmEvents,
  ...janitorEvents,
  ...providerEvents,
  ...telemetryMessages,
  ...rpcMessages,
]);
export type Message = z.infer<typeof Message>;
export type MessageType = Message["type"];
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

type Upcaster = (data: unknown) => unknown;
interface CatalogEntry {
  latest: number;
  /** Data schema of every version ever published. A published entry is never edited. */
  versions: Record<number, z.ZodType>;
  /** `upcasters[n]` turns version n data into version n+1 data. Pure. */
  upcasters: Record<number, Upcaster>;
}

/**
 * Superseded versions per type, oldest first: their frozen data schemas and the pure
 * upcasters from each to the next. The latest version is the one in the unions above.
 */
const history: Partial<Record<string, { versions: z.ZodType[]; upcasters: Upcaster[] }>> = {
  // v1 → v2: `used` may be zero; every v1 value is a valid v2 value.
  // v2 → v3: `warmPools` is new and optional (absent: the host did not say, not "no pools").
  HostHeartbeat: { versions: [HostHeartbeatV1.shape.data, HostHeartbeatV2.shape.data], upcasters: [(d) => d, (d) => d] },
  // v1 → v2: `spec.netMbit` is new and optional; every v1 value is a valid v2 value.
  // v2 → v3: `spec.egress` is new and optional (absent = open, as every v2 job ran).
  JobQueued: { versions: [JobQueuedV1.shape.data, JobQueuedV2.shape.data], upcasters: [(d) => d, (d) => d] },
  // v2 → v3: `start` is new and optional (absent = cold, as every v2 placement was).
  // v3 → v4: `spec.egress` is new and optional (absent = open, as every v3 placement ran).
  JobScheduled: {
    versions: [JobScheduledV1.shape.data, JobScheduledV2.shape.data, JobScheduledV3.shape.data],
    upcasters: [(d) => d, (d) => d, (d) => d],
  },
  // v1 → v2: `start` and `handOverMs` are new and optional; every v1 VM was booted for its job.
  VmBooted: { versions: [VmBootedV1.shape.data], upcasters: [(d) => d] },
  // v1 → v2: every v1 JobStarted came from a webhook.
  JobStarted: { versions: [JobStartedV1.shape.data], upcasters: [(d) => ({ ...(d as object), reportedBy: "webhook" })] },
  // v1 → v2: `reportedBy` gained `reconcile`, `reason` is new and optional; every v1 is a v2.
  JobCompleted: { versions: [JobCompletedV1.shape.data], upcasters: [(d) => d] },
  // v1 → v2: a v1 requeue always ended the named VM's reservation.
  JobRequeued: { versions: [JobRequeuedV1.shape.data], upcasters: [(d) => ({ ...(d as object), releasesVm: true })] },
  // v1 → v2: `kind` becomes `provider` (RPC, never stored; kept for a rolling upgrade's replies).
  RunnerConfigReply: {
    versions: [RunnerConfigReplyV1.shape.data],
    upcasters: [
      (d) => {
        const r = (d as { result: { ok: boolean; kind?: string } }).result;
        if (!r.ok) return d;
        const { kind, ...rest } = r;
        return { ...(d as object), result: { ...rest, provider: kind } };
      },
    ],
  },
};

const entry = (schema: z.ZodObject<{ type: z.ZodLiteral<string>; data: z.ZodType }>): CatalogEntry => {
  const old = history[schema.shape.type.value] ?? { versions: [], upcasters: [] };
  const latest = old.versions.length + 1;
  return {
    latest,
    versions: Object.fromEntries([...old.versions, schema.shape.data].map((v, i) => [i + 1, v])),
    upcasters: Object.fromEntries(old.upcasters.map((u, i) => [i + 1, u])),
  };
};

/**
 * The catalog: (type, version) → data schema, plus upcasters to the latest version.
 * To change an event: freeze the current data schema here as version N, add N+1 as the
 * new `latest`, write the pure upcaster N → N+1, and add a golden file for N+1
 * (`npm run golden -w @oneshot/proto`). Golden files of published versions never change.
 */
export const catalog: Record<MessageType, CatalogEntry> = Object.fromEntries(
  Message.options.map((schema) => [schema.shape.type.value, entry(schema)]),
) as Record<MessageType, CatalogEntry>;

export const messageTypes = Object.keys(catalog) as MessageType[];
export const eventTypes = DomainEvent.options.map((s) => s.shape.type.value) as EventType[];
const eventTypeSet: ReadonlySet<string> = new Set(eventTypes);
export const isEventType = (t: string): t is EventType => eventTypeSet.has(t);
