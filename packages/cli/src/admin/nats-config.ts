import { eventSubjectsFor } from "@oneshot/proto";

/**
 * Generates nats-server's config: JetStream on, one user per service, least-privilege
 * subject permissions (nats-server 2.9 syntax). The event subjects each identity may publish
 * come from proto's subject table (`eventSubjectsFor`), the same table every reader checks.
 * Passwords are `$ENV` references, so the file holds no secret. Pure: the same inputs give the same text.
 *
 * What each identity may do:
 *  - ingest:    append job events (evt.job.*), answer runner-config requests; its reconciler
 *               appends VmRetired to host subjects (evt.host.*, never a VM's own subject) and
 *               DeliveryRedelivered (evt.provider.*).
 *  - scheduler: append placements and host-side decisions (evt.host.*) and job decisions (evt.job.*).
 *  - janitor:   append facts to host subjects (HostLost, VmVanished) and ReclaimRequested; no job
 *               subjects (job decisions are the scheduler's); read telemetry, hold its lease (KV).
 *  - hostd-<H>: read ONLY its pre-provisioned durable `hostd-<H>` (filter evt.host.<H>), append only
 *               evt.host.<H> and evt.host.<H>.vm.*, telemetry and logs of H, request rpc.runner.config.<H>.
 *               It may not create consumers (a consumer's filter is in the request body, which
 *               2.9 permissions cannot see) nor read messages by subject.
 *  - audit-*:   read-only: its own short-lived (ordered) consumers on EVENTS and LOGS, direct
 *               reads of EVENTS; no publish on any stream subject, no durable or delete rights.
 *  - admin:     everything (the CLI and `oneshot admin init`).
 */
export interface NatsConfigInput {
  hosts: string[];
  port?: number;
  storeDir?: string;
  /** Listen address; 0.0.0.0 in a container. */
  listen?: string;
  monitorPort?: number;
  /** Read-only audit identities (default one, `audit`); each name must start with `audit`. */
  audit?: string[];
}

/**
 * What an audit identity may call: ordered consumers and their next-message requests, on
 * EVENTS and LOGS only. It may not delete consumers (it could delete a hostd's), so its ordered
 * consumers go when their inactivity threshold passes. nats-server 2.9 puts a consumer's name,
 * not whether it is durable, in the create subject: a named consumer cannot be refused here,
 * which is why `provisionHost` checks a host durable's filter instead of trusting its name.
 */
const auditApi = ["EVENTS", "LOGS"].flatMap((s) => [
  `$JS.API.STREAM.INFO.${s}`, `$JS.API.CONSUMER.CREATE.${s}`, `$JS.API.CONSUMER.CREATE.${s}.>`,
  `$JS.API.CONSUMER.INFO.${s}.*`, `$JS.API.CONSUMER.MSG.NEXT.${s}.*`,
]);
const AUDIT_USER = /^audit[A-Za-z0-9_-]{0,58}$/;

const HOST_ID = /^[A-Za-z0-9_-]{1,64}$/;

export const envVarFor = (user: string) => `ONESHOT_NATS_${user.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_PASSWORD`;

const list = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(", ")}]`;

/** JetStream API calls a control-plane service makes (read the log, run its consumers). */
const controlPlaneApi = [
  "$JS.API.INFO", "$JS.API.STREAM.INFO.*", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.MSG.GET.*", "$JS.API.DIRECT.GET.*",
  "$JS.API.CONSUMER.>", "$JS.ACK.>",
];

/** Each identity reads replies only under its own prefix (runtime's `inboxPrefixFor`). */
const inboxOf = (name: string) => [`_INBOX_${name}.>`];

function user(name: string, pub: string[], sub: string[], allowResponses = false): string {
  return [
    `      {`,
    `        user: ${JSON.stringify(name)}`,
    `        password: $${envVarFor(name)}`,
    `        permissions: {`,
    `          publish: { allow: ${list(pub)} }`,
    `          subscribe: { allow: ${list(sub)} }`,
    ...(allowResponses ? [`          allow_responses: true`] : []),
    `        }`,
    `      }`,
  ].join("\n");
}

export function natsConfig(input: NatsConfigInput): string {
  for (const h of input.hosts) if (!HOST_ID.test(h)) throw new Error(`host id ${JSON.stringify(h)}: must be 1-64 chars of [A-Za-z0-9_-]`);
  const audit = input.audit ?? ["audit"];
  for (const a of audit) if (!AUDIT_USER.test(a)) throw new Error(`audit user ${JSON.stringify(a)}: must start with "audit", then up to 58 of [A-Za-z0-9_-]`);
  const users = [
    user("admin", [">"], [">"]),
    user("ingest", [...controlPlaneApi, ...eventSubjectsFor("ingest"), "dlq.ingest", "dlq.ingest-*", "$KV.ingest-gitlab-runners.>", "$KV.ingest-reconcile.>"], [...inboxOf("ingest"), "rpc.runner.config.*"], true),
    user("scheduler", [...controlPlaneApi, ...eventSubjectsFor("scheduler"), "dlq.scheduler", "dlq.scheduler-*"], inboxOf("scheduler")),
    user("janitor", [...controlPlaneApi, ...eventSubjectsFor("janitor"), "dlq.janitor", "dlq.janitor-*", "$KV.janitor.>"], inboxOf("janitor")),
    ...input.hosts.map((h) =>
      user(
        `hostd-${h}`,
        [
          "$JS.API.INFO", "$JS.API.STREAM.INFO.EVENTS", "$JS.API.STREAM.INFO.TELEMETRY", "$JS.API.STREAM.INFO.LOGS", "$JS.API.STREAM.INFO.DLQ",
          `$JS.API.CONSUMER.INFO.EVENTS.hostd-${h}`, `$JS.API.CONSUMER.MSG.NEXT.EVENTS.hostd-${h}`, `$JS.ACK.EVENTS.hostd-${h}.>`,
          ...eventSubjectsFor("hostd", { hostId: h }), `tel.host.${h}.>`, `log.host.${h}.>`, `rpc.runner.config.${h}`, `dlq.hostd-${h}`,
        ],
        inboxOf(`hostd-${h}`),
      ),
    ),
    ...audit.map((a) => user(a, ["$JS.API.INFO", "$JS.API.STREAM.MSG.GET.EVENTS", "$JS.API.DIRECT.GET.EVENTS.>", ...auditApi], inboxOf(a))),
  ];
  return [
    `# Generated by \`oneshot admin nats-config --hosts ${input.hosts.join(",")}\`. Regenerate to add a host;`,
    `# passwords come from the environment (ONESHOT_NATS_<USER>_PASSWORD, e.g. ${envVarFor("hostd-metal-01")}).`,
    `listen: ${JSON.stringify(`${input.listen ?? "0.0.0.0"}:${input.port ?? 4222}`)}`,
    ...(input.monitorPort ? [`http_port: ${input.monitorPort}`] : []),
    `jetstream: { store_dir: ${JSON.stringify(input.storeDir ?? "/data")} }`,
    `accounts: {`,
    `  ONESHOT: {`,
    `    jetstream: enabled`,
    `    users: [`,
    users.join("\n"),
    `    ]`,
    `  }`,
    `}`,
    ``,
  ].join("\n");
}
