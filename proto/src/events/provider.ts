import { z } from "zod";
import { defineEvent } from "../common.js";

/**
 * Reconciler, on `evt.provider.<provider>`: a webhook delivery the provider reports as failed
 * (a 5xx or timeout from ingest, a network error) was asked to be delivered again. GitHub never
 * redelivers by itself; this is what turns a lost delivery into latency instead of a lost job.
 * The audit trail of why a job's events arrived late.
 */
export const DeliveryRedelivered = defineEvent("DeliveryRedelivered", {
  provider: z.enum(["github", "gitlab"]),
  /** The provider's id of the failed attempt (GitHub: the hook delivery id). */
  deliveryId: z.string().min(1).max(64),
  /** The delivery's stable id (GitHub `X-GitHub-Delivery`): what ingest deduplicates on. */
  guid: z.string().max(64),
  event: z.string().max(64),
  action: z.string().max(64).optional(),
  /** The status the provider recorded for the failed attempt (0: no answer). */
  statusCode: z.number().int().nonnegative(),
  deliveredAt: z.string().max(64),
  reason: z.string().max(512),
});
export type DeliveryRedelivered = z.infer<typeof DeliveryRedelivered>;

export const providerEvents = [DeliveryRedelivered] as const;
