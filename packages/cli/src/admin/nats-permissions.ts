import { eventSubjectsFor, streams } from "@oneshot/proto";

/**
 * Who may do what on NATS, as data: one entry per identity, derived from proto's subject
 * table (which events each writes) and from the durable consumers each owns. The config
 * generator and the identity report (`oneshot admin identities`) both render this, so the
 * permissions nats-server enforces and the ones the docs show cannot drift apart.
 *
 * nats-server 2.9 puts a consumer's name in the JetStream API subject, not its filter or
 * whether it is durable, so the rule for consumers is: every control-plane service may run
 * its own short-lived (ordered) consumers, but no identity except admin may create, update,
 * delete, read from or ack a durable it does not own (an explicit deny per durable name; a
 * deny wins over any allow). That closes "ingest deletes hostd's consumer" and "someone pulls
 * a host's placements from its durable" without the 2.10-only filtered-create subjects.
 */
export interface IdentityPermissions {
  name: string;
  role: "admin" | "ingest" | "scheduler" | "janitor" | "hostd" | "audit" | "dashboard";
  publish: { allow: string[]; deny: string[] };
  subscribe: { allow: string[]; deny: string[] };
  /** May answer requests sent to a subject it subscribes to (ingest answers runner-config). */
  allowResponses: boolean;
}

export interface PermissionInput {
  hosts: string[];
  audit: string[];
  /** Include the dashboard's identity (`oneshot up` and `admin bootstrap` do). */
  dashboard?: boolean;
}

/** A durable consumer and the identity that owns it. Hosts' are provisioned by admin. */
export interface DurableDef {
  stream: string;
  name: string;
  owner: string;
}

export const durablesFor = (hosts: string[]): DurableDef[] => [
  ...hosts.map((h) => ({ stream: streams.events.name, name: `hostd-${h}`, owner: `hostd-${h}` })),
  { stream: streams.events.name, name: "ingest-gitlab-cleanup", owner: "ingest" },
];

/** Every JetStream API and ack subject that touches one durable. */
const durableApi = (d: DurableDef) => [
  `$JS.API.CONSUMER.CREATE.${d.stream}.${d.name}`,
  `$JS.API.CONSUMER.CREATE.${d.stream}.${d.name}.>`,
  `$JS.API.CONSUMER.DURABLE.CREATE.${d.stream}.${d.name}`,
  `$JS.API.CONSUMER.DELETE.${d.stream}.${d.name}`,
  `$JS.API.CONSUMER.MSG.NEXT.${d.stream}.${d.name}`,
  `$JS.ACK.${d.stream}.${d.name}.>`,
];

/** Streams a control-plane service reads with its own ordered consumers (KV watches included). */
const consumerApi = [
  "$JS.API.CONSUMER.CREATE.*",
  "$JS.API.CONSUMER.CREATE.*.>",
  "$JS.API.CONSUMER.INFO.*.*",
  "$JS.API.CONSUMER.MSG.NEXT.*.*",
  "$JS.API.CONSUMER.DELETE.*.*",
];

/** Reading the log: stream info, direct and by-sequence gets. No stream create/update/purge/delete. */
const readApi = ["$JS.API.INFO", "$JS.API.STREAM.INFO.*", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.MSG.GET.*", "$JS.API.DIRECT.GET.*", "$JS.API.DIRECT.GET.*.>"];

/** Each identity reads replies only under its own prefix (runtime's `inboxPrefixFor`). */
const inboxOf = (name: string) => [`_INBOX_${name}.>`];

/**
 * What an audit identity may call: ordered consumers and direct reads, on EVENTS and LOGS only.
 * It deletes its ordered consumers when it closes them; every durable is denied by name.
 */
const auditApi = [streams.events.name, streams.logs.name].flatMap((s) => [
  `$JS.API.STREAM.INFO.${s}`,
  `$JS.API.CONSUMER.CREATE.${s}`,
  `$JS.API.CONSUMER.CREATE.${s}.>`,
  `$JS.API.CONSUMER.INFO.${s}.*`,
  `$JS.API.CONSUMER.MSG.NEXT.${s}.*`,
  `$JS.API.CONSUMER.DELETE.${s}.*`,
  `$JS.API.STREAM.MSG.GET.${s}`,
  `$JS.API.DIRECT.GET.${s}`,
  `$JS.API.DIRECT.GET.${s}.>`,
]);

/**
 * The snapshots the CLI's read commands start from (`state --at`: the scheduler's; `jobs`/`hosts`:
 * the fleet's, which the janitor writes): reads only, no KV writes. A get from a bucket without
 * direct gets (`STREAM.MSG.GET`) names no key in its subject, so it reads any snapshot: every one
 * is a fold of EVENTS, which this identity reads whole anyway (no secret is ever in the log).
 */
const auditSnapshotReads = [
  "$JS.API.STREAM.INFO.KV_snapshots",
  "$JS.API.STREAM.MSG.GET.KV_snapshots",
  "$JS.API.DIRECT.GET.KV_snapshots.$KV.snapshots.scheduler.>",
  "$JS.API.DIRECT.GET.KV_snapshots.$KV.snapshots.fleet.>",
];

/**
 * The dashboard reads what audit reads plus the hosts' heartbeats (TELEMETRY), and may publish
 * only the subjects of the operator's events it appends once someone signed in with the admin
 * token: HostCordoned/HostUncordoned/HostDrained on `evt.host.<h>` and JobCancelled on
 * `evt.job.<j>`. NATS permissions are per subject, not per event type: the subject table still
 * decides which types count there, and the process never writes anything else.
 */
const dashboardApi = [
  ...auditApi,
  `$JS.API.STREAM.INFO.${streams.telemetry.name}`,
  ...[
    `$JS.API.CONSUMER.CREATE.${streams.telemetry.name}`,
    `$JS.API.CONSUMER.CREATE.${streams.telemetry.name}.>`,
    `$JS.API.CONSUMER.INFO.${streams.telemetry.name}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${streams.telemetry.name}.*`,
    `$JS.API.CONSUMER.DELETE.${streams.telemetry.name}.*`,
  ],
];
export const DASHBOARD_WRITES = ["evt.host.*", "evt.job.*"] as const;

/** Every identity of a fleet, in the order the config lists them. */
export const identityNames = (hosts: string[], audit: string[], o: { dashboard?: boolean } = {}): string[] => [
  "admin",
  "ingest",
  "scheduler",
  "janitor",
  ...(o.dashboard ? ["dashboard"] : []),
  ...hosts.map((h) => `hostd-${h}`),
  ...audit,
];

export const AUDIT_USER = /^audit[A-Za-z0-9_-]{0,58}$/;
export const HOST_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function identityPermissions(input: PermissionInput): IdentityPermissions[] {
  for (const h of input.hosts) if (!HOST_ID.test(h)) throw new Error(`host id ${JSON.stringify(h)}: must be 1-64 chars of [A-Za-z0-9_-]`);
  for (const a of input.audit)
    if (!AUDIT_USER.test(a)) throw new Error(`audit user ${JSON.stringify(a)}: must start with "audit", then up to 58 of [A-Za-z0-9_-]`);
  const durables = durablesFor(input.hosts);
  const own = (name: string) => durables.filter((d) => d.owner === name).flatMap(durableApi);
  // Where a consumer of this identity dead-letters: `dlq.<role>` and `dlq.<durable>` of each durable it owns.
  const dlqOf = (name: string) => [`dlq.${name}`, ...durables.filter((d) => d.owner === name && d.name !== name).map((d) => `dlq.${d.name}`)];
  const others = (name: string) => durables.filter((d) => d.owner !== name).flatMap(durableApi);
  const service = (role: "ingest" | "scheduler" | "janitor", extraPub: string[], extraSub: string[] = [], allowResponses = false): IdentityPermissions => ({
    name: role,
    role,
    publish: { allow: [...readApi, ...consumerApi, ...own(role), ...eventSubjectsFor(role), ...dlqOf(role), ...extraPub], deny: others(role) },
    subscribe: { allow: [...inboxOf(role), ...extraSub], deny: [] },
    allowResponses,
  });
  return [
    { name: "admin", role: "admin", publish: { allow: [">"], deny: [] }, subscribe: { allow: [">"], deny: [] }, allowResponses: false },
    service(
      "ingest",
      ["$KV.ingest-gitlab-runners.>", "$KV.ingest-reconcile.>", "$KV.ingest-foreign.>", "$KV.ingest-runner-replies.>", "$KV.snapshots.reconcile.>"],
      ["rpc.runner.config.*"],
      true,
    ),
    service("scheduler", ["$KV.snapshots.scheduler.>", "$KV.scheduler.>"]),
    service("janitor", ["$KV.janitor.>", "$KV.snapshots.janitor.>", "$KV.snapshots.fleet.>"]),
    ...(input.dashboard
      ? [
          {
            name: "dashboard",
            role: "dashboard" as const,
            publish: { allow: ["$JS.API.INFO", ...dashboardApi, ...DASHBOARD_WRITES], deny: durables.flatMap(durableApi) },
            subscribe: { allow: inboxOf("dashboard"), deny: [] },
            allowResponses: false,
          },
        ]
      : []),
    ...input.hosts.map((h): IdentityPermissions => {
      const name = `hostd-${h}`;
      return {
        name,
        role: "hostd",
        publish: {
          allow: [
            "$JS.API.INFO",
            ...Object.values(streams).map((s) => `$JS.API.STREAM.INFO.${s.name}`),
            `$JS.API.CONSUMER.INFO.${streams.events.name}.${name}`,
            `$JS.API.CONSUMER.MSG.NEXT.${streams.events.name}.${name}`,
            `$JS.ACK.${streams.events.name}.${name}.>`,
            ...eventSubjectsFor("hostd", { hostId: h }),
            `tel.host.${h}.>`,
            `log.host.${h}.>`,
            `rpc.runner.config.${h}`,
            `dlq.${name}`,
          ],
          deny: [],
        },
        subscribe: { allow: inboxOf(name), deny: [] },
        allowResponses: false,
      };
    }),
    ...input.audit.map((a): IdentityPermissions => ({
      name: a,
      role: "audit",
      publish: { allow: ["$JS.API.INFO", ...auditApi, ...auditSnapshotReads], deny: durables.flatMap(durableApi) },
      subscribe: { allow: inboxOf(a), deny: [] },
      allowResponses: false,
    })),
  ];
}

/** A Markdown table of every identity's rights: what `oneshot admin identities` prints (docs/identities.md). */
export function identityReport(input: PermissionInput): string {
  const code = (xs: string[]) => (xs.length ? xs.map((x) => `\`${x}\``).join(" ") : "—");
  const rows = identityPermissions(input).map(
    (p) => `| ${p.name} | ${code(p.publish.allow)} | ${code(p.publish.deny)} | ${code(p.subscribe.allow)}${p.allowResponses ? " (+ replies)" : ""} |`,
  );
  return [`| identity | may publish | may never publish (wins) | may subscribe |`, `|---|---|---|---|`, ...rows, ``].join("\n");
}
