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
    types: ["JobQueued", "JobIgnored", "JobUnschedulable", "JobStarted", "JobCompleted", "JobCancelled", "JobRequeued", "JobFailed", "JobRebound"],
    writers: ["ingest", "scheduler"],
  },
  {
    // What hostd must act on. hostd does not write here: a host that could would forge its own
    // placements (JobScheduled for any queued job, which the broker would then mint a runner
    // for). HostRegistered and ResourceReclaimed stay readable here for logs written before
    // hostd moved to `.self`; no identity writes them here any more.
    pattern: "evt.host.{hostId}",
    types: [
      "HostRegistered",
      "HostCordoned",
      "HostUncordoned",
      "HostDrained",
      "HostLost",
      "HostDeregistered",
      "ReclaimRequested",
      "ResourceReclaimed",
      "JobScheduled",
      "VmIdle",
      "VmRetired",
      "VmVanished",
      "HostLeaseExpired",
      "PlacementExpired",
    ],
    writers: ["scheduler", "janitor", "ingest", "admin"],
  },
  {
    // What a host says about itself, and only about itself.
    pattern: "evt.host.{hostId}.self",
    types: ["HostRegistered", "HostDeregistered", "ResourceReclaimed", "HostFenced"],
    writers: ["hostd"],
  },
  {
    pattern: "evt.host.{hostId}.vm.{vmId}",
    types: ["VmBootRequested", "VmBooted", "VmBootFailed", "VmExited", "VmDestroyed", "VmIsolationLost", "VmWarmed", "WarmVmRetired", "VmEgressDenied"],
    writers: ["hostd"],
  },
  {
    pattern: "evt.provider.{provider}",
    types: ["DeliveryRedelivered"],
    writers: ["ingest"],
  },
];

const tokens = (s: string) => s.split(".");

/** The table, pre-split once: replay checks every event, so each check is a few compares. */
const compiled = subjectTable.map((rule) => {
  const want = tokens(rule.pattern);
  return {
    rule,
    want,
    types: new Set<string>(rule.types),
    bound: want.flatMap((t, i) => (t.startsWith("{") ? [{ i, field: t.slice(1, -1) }] : [])),
  };
});

function compiledFor(got: string[]) {
  outer: for (const c of compiled) {
    if (c.want.length !== got.length) continue;
    for (let i = 0; i < got.length; i++) {
      const t = c.want[i]!;
      if (t.charCodeAt(0) !== 123 /* { */ && t !== got[i]) continue outer;
    }
    return c;
  }
  return undefined;
}

/** The rule whose pattern the subject matches (same token count, equal literals), if any. */
export function ruleFor(subject: string): SubjectRule | undefined {
  return compiledFor(tokens(subject))?.rule;
}

/**
 * Why a decoded message may not stand on this subject, or undefined when it may: not an event
 * of the audit log (telemetry, RPC), no rule for the subject, a type the rule does not allow,
 * or a bound field that differs from its subject token (a host writing about another host).
 */
export function misplacement(type: string, data: unknown, subject: string): string | undefined {
  if (!isEventType(type)) return `${type} is not an event of the audit log`;
  const got = tokens(subject);
  const c = compiledFor(got);
  if (!c) return `no event may be stored on ${subject}`;
  if (!c.types.has(type)) return `${type} may not appear on ${c.rule.pattern}`;
  const fields = (data ?? {}) as Record<string, unknown>;
  for (const { i, field } of c.bound) {
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
    .map((r) =>
      tokens(r.pattern)
        .map((t) => (t.startsWith("{") ? (bind[t.slice(1, -1)] ?? "*") : t))
        .join("."),
    );
}

/** The same check on a decoded event. */
export const isPlaced = (e: DomainEvent, subject: string): boolean => misplacement(e.type, e.data, subject) === undefined;
