import type { DomainEvent, EventType } from "./catalog.js";
import { isEventType } from "./catalog.js";

/**
 * Which event types may appear on which subject, and which of their fields must equal the
 * subject's tokens. NATS permissions say who may write a subject; this table says what a
 * message on it may claim. A message that breaks it is not applied by any projection (see
 * `misplacement`), so one identity's credential cannot speak for another host or job.
 */
export interface SubjectRule {
  /** `evt.job.{jobId}`: literal tokens, and `{field}` tokens bound to that data field. */
  pattern: string;
  types: readonly EventType[];
  /** Who writes these, for documentation and for deriving NATS permissions. */
  writers: readonly string[];
}

export const subjectTable: readonly SubjectRule[] = [
  {
    pattern: "evt.job.{jobId}",
    types: [
      "JobQueued", "JobIgnored", "JobUnschedulable", "JobStarted", "JobCompleted", "JobCancelled",
      "JobRequeued", "JobFailed", "JobRebound",
    ],
    writers: ["ingest", "scheduler"],
  },
  {
    pattern: "evt.host.{hostId}",
    types: [
      "HostRegistered", "HostCordoned", "HostUncordoned", "HostDrained", "HostLost", "HostDeregistered",
      "ReclaimRequested", "ResourceReclaimed", "JobScheduled", "VmIdle", "VmRetired", "VmVanished",
    ],
    writers: ["hostd", "scheduler", "janitor", "ingest", "admin"],
  },
  {
    pattern: "evt.host.{hostId}.vm.{vmId}",
    types: ["VmBootRequested", "VmBooted", "VmBootFailed", "VmExited", "VmDestroyed", "VmIsolationLost"],
    writers: ["hostd"],
  },
  {
    pattern: "evt.provider.{provider}",
    types: ["DeliveryRedelivered"],
    writers: ["ingest"],
  },
];

const tokens = (s: string) => s.split(".");

/** The rule whose pattern the subject matches (same token count, equal literals), if any. */
export function ruleFor(subject: string): SubjectRule | undefined {
  const got = tokens(subject);
  return subjectTable.find((r) => {
    const want = tokens(r.pattern);
    return want.length === got.length && want.every((t, i) => t.startsWith("{") || t === got[i]);
  });
}

/**
 * Why a decoded message may not stand on this subject, or undefined when it may: not an event
 * of the audit log (telemetry, RPC), no rule for the subject, a type the rule does not allow,
 * or a bound field that differs from its subject token (a host writing about another host).
 */
export function misplacement(type: string, data: unknown, subject: string): string | undefined {
  if (!isEventType(type)) return `${type} is not an event of the audit log`;
  const rule = ruleFor(subject);
  if (!rule) return `no event may be stored on ${subject}`;
  if (!rule.types.includes(type)) return `${type} may not appear on ${rule.pattern}`;
  const want = tokens(rule.pattern);
  const got = tokens(subject);
  const fields = (data ?? {}) as Record<string, unknown>;
  for (let i = 0; i < want.length; i++) {
    const t = want[i]!;
    if (!t.startsWith("{")) continue;
    const field = t.slice(1, -1);
    if (fields[field] !== got[i]) return `${type}.${field} ${JSON.stringify(fields[field])} does not match ${subject}`;
  }
  return undefined;
}

/**
 * The event subjects an identity may publish, from the table: every pattern it writes, with
 * the tokens it is bound to filled in (a hostd's `{hostId}`) and the rest a wildcard. NATS
 * permissions are generated from this, so the two layers cannot drift apart.
 */
export function eventSubjectsFor(writer: string, bind: Readonly<Record<string, string>> = {}): string[] {
  return subjectTable
    .filter((r) => r.writers.includes(writer))
    .map((r) => tokens(r.pattern).map((t) => (t.startsWith("{") ? (bind[t.slice(1, -1)] ?? "*") : t)).join("."));
}

/** The same check on a decoded event. */
export const isPlaced = (e: DomainEvent, subject: string): boolean => misplacement(e.type, e.data, subject) === undefined;
