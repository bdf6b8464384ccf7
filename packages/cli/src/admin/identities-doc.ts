import { identityReport } from "./nats-permissions.js";

/** docs/identities.md: the generated permissions of a two-host fleet, with how to read them. */
export function identitiesDoc(): string {
  return [
    `# NATS identities and what each may do`,
    ``,
    `Generated from \`packages/cli/src/admin/nats-permissions.ts\` (itself derived from proto's subject`,
    `table, \`proto/src/subject-table.ts\`) for hosts \`metal-01,metal-02\` and one audit identity;`,
    `\`oneshot admin identities --hosts <yours>\` prints your fleet's. A unit test keeps this file equal to`,
    `the generator, and \`nats-permissions.int.test.ts\` proves the rules against a real nats-server.`,
    ``,
    `How to read it:`,
    `- Every identity logs in with its own NKey over TLS (\`oneshot admin bootstrap\`); nats-server's`,
    `  config holds public keys only.`,
    `- Event subjects: which identity may write which subject comes from the subject table's`,
    `  \`writers\`. What a message on a subject may *say* (its type, and ids that must equal the subject's`,
    `  tokens) is checked by every reader (\`misplacement\`): a hostd may write \`evt.host.<h>.self\` and`,
    `  its own VMs' subjects, and there only statements about itself count.`,
    `- "may never publish" wins over "may publish": no identity but admin may create, update, delete,`,
    `  read from or ack a durable consumer it does not own. nats-server 2.9 names only the consumer in`,
    `  the API subject, so ordered (short-lived) consumers are allowed by wildcard and every durable`,
    `  is protected by name.`,
    `- Replies: each identity subscribes only to its own inbox prefix \`_INBOX_<name>\`.`,
    `- Limits of 2.9 permissions, on purpose and documented: a control-plane service may write any`,
    `  type the table allows on its subjects (the scheduler and the janitor share \`evt.host.*\`); the`,
    `  table, not NATS, keeps types in place.`,
    ``,
    identityReport({ hosts: ["metal-01", "metal-02"], audit: ["audit"], dashboard: true }),
  ].join("\n");
}
