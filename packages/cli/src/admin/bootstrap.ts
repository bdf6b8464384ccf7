import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureIdentities, seedFileOf } from "./identities.js";
import { natsConfig } from "./nats-config.js";
import { identityNames } from "./nats-permissions.js";
import { ensurePki, pkiFiles } from "./pki.js";

/**
 * Everything a deployment's NATS needs, in one directory (default `./secrets`, git-ignored):
 *   nats.conf                the server config: NKey public keys, permissions, TLS, fsync
 *   tls/ca.pem ca.key        the private CA (ca.key never leaves the operator)
 *   tls/server.pem .key      nats-server's certificate for `nats` (compose) + the given names
 *   identities/<name>.nk     one NKey seed per identity (0600), each for that service only
 *   dashboard-admin-token    what an operator signs in to the dashboard with (0600; kept on re-runs)
 * Re-running keeps existing keys and certificates, adds missing identities (a new host) and
 * re-issues the server certificate when its names change.
 */
export interface BootstrapInput {
  dir: string;
  hosts: string[];
  audit: string[];
  /** DNS names / IPs hosts dial NATS on (the server certificate names them, plus `nats`). */
  natsNames: string[];
  /** uid the control containers run as (the image's `node` user): their seeds are chowned to it when we are root. */
  containerUid: number;
  /** Nodes of a JetStream cluster (compose.cluster.yaml): 1 writes nats.conf; 3 or 5 write nats-<i>.conf. */
  cluster?: number;
}

export const CONTAINER_TLS_DIR = "/etc/nats/tls";
export const controlIdentities = ["admin", "ingest", "scheduler", "janitor", "dashboard"] as const;

export async function bootstrap(b: BootstrapInput): Promise<string[]> {
  mkdirSync(b.dir, { recursive: true, mode: 0o700 });
  const identities = join(b.dir, "identities");
  const nkeys = ensureIdentities(identities, identityNames(b.hosts, b.audit, { dashboard: true }));
  const nodes = b.cluster ?? 1;
  // Node i is `nats` (i = 1, so single-node compose and the cluster share names) or `nats-<i>`.
  const nodeName = (i: number) => (i === 1 ? "nats" : `nats-${i}`);
  const clusterNames = nodes > 1 ? Array.from({ length: nodes }, (_, i) => nodeName(i + 1)) : ["nats"];
  const pki = await ensurePki(join(b.dir, "tls"), [...clusterNames, ...b.natsNames]);
  const tls = { certFile: `${CONTAINER_TLS_DIR}/server.pem`, keyFile: `${CONTAINER_TLS_DIR}/server.key` };
  for (let i = 1; i <= nodes; i++) {
    writeFileSync(
      join(b.dir, nodes > 1 ? `nats-${i}.conf` : "nats.conf"),
      natsConfig({
        hosts: b.hosts,
        audit: b.audit,
        dashboard: true,
        nkeys,
        monitorPort: 8222,
        storeDir: "/data",
        listen: "0.0.0.0",
        tls,
        // compose runs nats:2.10, which has it; fsync before every ack: an acknowledged webhook survives a power cut.
        syncAlways: true,
        ...(nodes > 1
          ? {
              cluster: {
                name: "oneshot",
                serverName: `n${i}`,
                listen: "0.0.0.0:6222",
                caFile: `${CONTAINER_TLS_DIR}/ca.pem`,
                routes: clusterNames.map((n) => `nats-route://${n}:6222`),
              },
            }
          : {}),
      }),
      { mode: 0o644 },
    );
  }
  const notes: string[] = [];
  const asRoot = process.getuid?.() === 0;
  for (const id of controlIdentities) {
    if (asRoot) chownSync(seedFileOf(identities, id), b.containerUid, b.containerUid);
  }
  const dashboardToken = join(b.dir, "dashboard-admin-token");
  if (!existsSync(dashboardToken)) writeFileSync(dashboardToken, randomBytes(24).toString("hex"), { mode: 0o600 });
  if (asRoot) chownSync(dashboardToken, b.containerUid, b.containerUid);
  if (!asRoot && process.getuid?.() !== b.containerUid) {
    notes.push(
      `the control containers run as uid ${b.containerUid}: sudo chown ${b.containerUid} ${controlIdentities.map((i) => seedFileOf(identities, i)).join(" ")} ${dashboardToken}`,
    );
  }
  notes.push(`dashboard: operators sign in with the token in ${dashboardToken}`);
  notes.push(`ca: ${pki.ca}, server certificate: ${pki.server} (names: ${[...clusterNames, ...b.natsNames].join(", ")})`);
  if (nodes > 1) notes.push(`${nodes}-node cluster: docker compose -f compose.yaml -f compose.cluster.yaml up -d (streams at R${nodes})`);
  for (const h of b.hosts) {
    notes.push(
      `host ${h}: copy ${pkiFiles(join(b.dir, "tls")).ca} and ${seedFileOf(identities, `hostd-${h}`)} to it, then deploy/hostd/install.sh --host-id ${h} --nats-url ${nodes > 1 ? Array.from({ length: nodes }, (_, i) => `tls://${b.natsNames[0] ?? "<nats-address>"}:${4222 + i}`).join(",") : `tls://${b.natsNames[0] ?? "<nats-address>"}:4222`} --nats-ca-file ca.pem --nats-nkey-file hostd-${h}.nk`,
    );
  }
  return notes;
}
