import type { Conclusion, JobSource } from "@oneshot/proto";
import type { z } from "zod";

/** The providers that have an API the reconciler can ask; `local` jobs have none. */
export type ApiProvider = "github" | "gitlab";

/**
 * What a provider's API says about one job, normalised. `call` names the request that said
 * so (method and path, never a token), for the reason of the event it leads to.
 */
export type ProviderJob =
  /** Not picked up yet (GitHub queued/waiting, GitLab created/pending/…): nothing to append. */
  | { status: "queued"; call: string; detail: string }
  | { status: "in_progress"; call: string; runnerName?: string }
  | { status: "completed"; call: string; conclusion: z.infer<typeof Conclusion>; runnerName?: string; ranOnRunner: boolean }
  /** 404: deleted, or the App lost access; not a fact about the job's state. */
  | { status: "not_found"; call: string };

/** One row of GitHub's `GET /app/hook/deliveries` (newest first). */
export interface HookDelivery {
  id: string;
  guid: string;
  deliveredAt: string;
  redelivery: boolean;
  /** 0: no answer (timeout, connection refused). */
  statusCode: number;
  event: string;
  action?: string;
}

/** What removing an idle VM's runner registration came to. */
export type RetireOutcome =
  /** The registration was removed now (GitHub 204, GitLab 204): it can take no job. */
  | { kind: "removed"; detail: string }
  /** There was none (404, or never registered / already deleted): it can take no job. */
  | { kind: "gone"; detail: string }
  /** The provider refused: the runner is running a job (GitHub 422, GitLab running jobs). */
  | { kind: "busy"; detail: string };

export interface RunnerRef {
  /** The source of the job the VM was booted for: which installation, org or repo, project. */
  source: JobSource;
  runnerName: string;
  bootedForJobId: string;
}

/**
 * The narrow port the reconciler asks a provider through (one adapter per provider under
 * `providers/<name>/reconcile-api-client.ts`). Errors are ReconcileApiError.
 */
export interface ReconcileApi {
  readonly provider: ApiProvider;
  job(source: JobSource): Promise<ProviderJob>;
  /** Removes the runner's registration unless it is running a job (the provider's atomic check). */
  retireRunner(r: RunnerRef): Promise<RetireOutcome>;
}

/** GitHub App webhook deliveries: only GitHub lists and redelivers them. */
export interface DeliveriesApi {
  /**
   * Rows newer than `sinceMs`, newest first, following the `Link` cursor back until a row is
   * older than that or `maxPages` were read (`complete: false` then).
   */
  list(sinceMs: number, maxPages: number): Promise<{ rows: HookDelivery[]; complete: boolean; pages: number }>;
  /** `POST /app/hook/deliveries/{id}/attempts` (202). */
  redeliver(deliveryId: string): Promise<void>;
}
