import type { ForeignJobs } from "../foreign-jobs.js";
import type { IncomingMessage } from "node:http";
import type { EventStore, Logger } from "@oneshot/runtime";
import type { IngestConfig } from "../config.js";
import type { JobDefaults } from "../providers/shared/job-spec.js";
import { egressResolver } from "../egress/load-policy.js";
import type { IngestMetrics } from "../metrics.js";
import { HttpError } from "./http-error.js";

export interface Reply {
  status: number;
  body: unknown;
}

/** A route checks headers first and reads the body only once the request may go on. */
export type Route = (req: IncomingMessage, readBody: () => Promise<Buffer>) => Promise<Reply>;

export interface RouteDeps {
  config: IngestConfig;
  store: EventStore;
  log: Logger;
  metrics: IngestMetrics;
  /** A new UUIDv7 (job ids, correlation ids of local jobs). */
  newId: () => string;
  /** Where deliveries for jobs that are not ours are kept for a while (foreign-jobs.ts); without it they are only counted. */
  foreign?: ForeignJobs;
}

export const jobDefaults = (c: IngestConfig): JobDefaults => ({
  ...(c.INGEST_EGRESS_POLICY_FILE ? { egress: egressResolver(c.INGEST_EGRESS_POLICY_FILE)! } : {}),
  vcpus: c.INGEST_DEFAULT_VCPUS,
  memGiB: c.INGEST_DEFAULT_MEM_GIB,
  arch: c.INGEST_DEFAULT_ARCH,
  maxVcpus: c.INGEST_MAX_VCPUS,
  maxMemGiB: c.INGEST_MAX_MEM_GIB,
  diskGiB: c.INGEST_DEFAULT_DISK_GIB,
  timeoutSec: c.INGEST_JOB_TIMEOUT_SEC,
  image: c.INGEST_IMAGE,
});

/** Delivery ids and idempotency keys become msgIds and correlation ids: printable, bounded. */
export const DELIVERY_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The body as text: HMACs are verified over exactly these bytes, so they must be valid UTF-8. */
export function bodyText(body: Buffer): string {
  try {
    return utf8.decode(body);
  } catch {
    throw new HttpError(400, "body is not UTF-8");
  }
}

export function parseJsonBody(text: string, contentType: string | undefined): unknown {
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(contentType ?? "")) throw new HttpError(415, "content-type must be application/json");
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "body is not valid JSON");
  }
}

/** The first schema issue, naming the field: enough to fix a request, never echoing values. */
export const firstIssue = (issues: readonly { path: PropertyKey[]; message: string }[]) =>
  issues
    .slice(0, 3)
    .map((i) => `${i.path.map(String).join(".") || "body"}: ${i.message}`)
    .join("; ");
