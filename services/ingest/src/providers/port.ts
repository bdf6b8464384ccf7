import type { JobSource, Provider, RunnerLaunch } from "@oneshot/proto";
import type { Route, RouteDeps } from "../http/route.js";

/**
 * The CI-provider port: everything ingest knows about one provider (GitHub, GitLab, local…)
 * sits behind this interface, in `providers/<name>/`, and is found through `registry.ts`.
 * Nothing outside `providers/` branches on a provider's name; below ingest (hostd, the config
 * drive, the agent) providers do not exist at all: they run a `RunnerLaunch`.
 */
export interface CiProvider {
  /** `JobSource.provider` of its jobs; also the webhook path (`/webhooks/<name>`) and the metrics label. */
  readonly name: Provider;
  /** `POST /webhooks/<name>`: verify, parse, decide (pure), store. Absent: the provider sends no webhooks. */
  webhook?(d: RouteDeps): Route;
  /** Runner minting for the broker. Absent: its jobs need no runner (local jobs run their inline script). */
  runners?: RunnerMinting;
  /** Stops the provider's background work (GitLab: deleting runners of ended jobs). */
  stop?(): Promise<void>;

  // ── Reconcile hooks (services/ingest/src/reconcile/, docs/runner-model.md "The reconciler") ──
  // The reconciler adds its optional hooks here (reading a job from the provider's API,
  // removing a runner's registration, redelivering failed webhooks…). A provider without an
  // API (local) leaves them out: its idle VMs retire at once.
}

export interface RunnerMinting {
  /** Pure: why a job of this provider cannot get a runner, judging by its source alone (→ `invalid`). */
  sourceProblem(source: JobSource): string | undefined;
  /**
   * Registers a one-job runner named `runnerName` and returns what the guest runs to be it.
   * Throws ProviderError (typed codes: not-configured, rate-limited…) whose message never holds
   * a secret. The returned launch carries the runner's secret in `env`: it is sealed to the host
   * at once and never logged.
   */
  mintLaunch(r: MintRequest): Promise<MintedLaunch>;
}

export interface MintRequest {
  jobId: string;
  source: JobSource;
  /** `oneshot-<hostId>-<vmId>` (proto/src/runner-name.ts): unique per VM, ≤ 64 characters. */
  runnerName: string;
  /** Re-reads the job's log: true once it has ended (a runner made meanwhile must be taken back). */
  jobEnded(): Promise<boolean>;
}

export interface MintedLaunch {
  /** The name the provider registered the runner under. */
  runnerName: string;
  /** What the guest runs (proto `RunnerLaunch`); the broker parses it with proto's schema before sealing. */
  launch: RunnerLaunch;
}
