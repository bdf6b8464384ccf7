import type { KV } from "@nats-io/kv";
import { streams, subjects } from "@oneshot/proto";
import { RetryableError, runDurableConsumer, type Logger, type Nats } from "@oneshot/runtime";
import { ProviderError } from "../shared/provider-error.js";
import { GITLAB_JOB_ID_PREFIX } from "./decide.js";

/** The KV bucket (created by `oneshot admin init`) mapping a GitLab job to its runners' ids. */
export const GITLAB_RUNNERS_BUCKET = "ingest-gitlab-runners";

/**
 * Which GitLab runners were created for which job, so each is deleted when its job ends, even
 * after a restart of ingest. A job may get more than one (a retried boot): all are kept.
 * Runner ids are not secrets; tokens are never stored.
 */
export interface RunnerRegistry {
  remember(jobId: string, runnerId: number): Promise<void>;
  ids(jobId: string): Promise<number[]>;
  forget(jobId: string, runnerIds: number[]): Promise<void>;
}

export function kvRunnerRegistry(kv: KV): RunnerRegistry {
  const read = async (jobId: string) => {
    const e = await kv.get(jobId);
    if (!e || e.operation !== "PUT" || e.length === 0) return { ids: [] as number[], revision: e?.revision ?? 0, exists: false };
    const v = JSON.parse(e.string()) as unknown;
    return {
      ids: Array.isArray(v) ? v.filter((x): x is number => typeof x === "number") : typeof v === "number" ? [v] : [],
      revision: e.revision,
      exists: true,
    };
  };
  /** Compare-and-set, so two replicas remembering runners of one job lose neither. */
  const change = async (jobId: string, f: (ids: number[]) => number[]) => {
    for (let attempt = 0; attempt < 10; attempt++) {
      const cur = await read(jobId);
      const next = f(cur.ids);
      try {
        if (next.length === 0) {
          if (cur.exists) await kv.delete(jobId, { previousSeq: cur.revision });
        } else if (cur.exists) {
          await kv.update(jobId, JSON.stringify(next), cur.revision);
        } else {
          await kv.create(jobId, JSON.stringify(next));
        }
        return;
      } catch (e) {
        const lost = (e as { code?: unknown }).code === 10071 || /wrong last sequence/i.test((e as Error).message);
        if (!lost) throw e;
      }
    }
    throw new RetryableError(`KV ${GITLAB_RUNNERS_BUCKET}: ${jobId} keeps changing under us`);
  };
  return {
    remember: (jobId, runnerId) => change(jobId, (ids) => [...new Set([...ids, runnerId])]),
    ids: async (jobId) => (await read(jobId)).ids,
    forget: (jobId, gone) => change(jobId, (ids) => ids.filter((id) => !gone.includes(id))),
  };
}

/** Deletes the runners of a job; a runner already gone counts as deleted. */
export async function deleteRunnersOf(jobId: string, registry: RunnerRegistry, deleteRunner: (id: number) => Promise<void>): Promise<number[]> {
  const ids = await registry.ids(jobId);
  const deleted: number[] = [];
  for (const id of ids) {
    await deleteRunner(id);
    deleted.push(id);
  }
  if (deleted.length) await registry.forget(jobId, deleted);
  return deleted;
}

/**
 * Deletes each GitLab job's runners when the job ends (JobCompleted, JobCancelled, JobFailed).
 * One durable consumer, so with several ingest replicas each end is handled once; a failed
 * delete is retried with backoff and dead-lettered with the reason, never dropped silently.
 */
export async function startGitlabCleanup(o: { nats: Nats; registry: RunnerRegistry; log: Logger; deleteRunner: (id: number) => Promise<void> }) {
  return runDurableConsumer(o.nats, {
    stream: streams.events.name,
    durable: "ingest-gitlab-cleanup",
    filterSubject: subjects.allJobs,
    log: o.log,
    handler: async (e) => {
      if (e.type !== "JobCompleted" && e.type !== "JobCancelled" && e.type !== "JobFailed") return;
      if (!e.data.jobId.startsWith(GITLAB_JOB_ID_PREFIX)) return;
      try {
        const deleted = await deleteRunnersOf(e.data.jobId, o.registry, o.deleteRunner);
        if (deleted.length) o.log.info({ jobId: e.data.jobId, runnerIds: deleted }, "GitLab runners deleted");
      } catch (err) {
        if (err instanceof ProviderError && !err.retryable) throw err;
        throw new RetryableError(`cannot delete the GitLab runners of ${e.data.jobId}: ${(err as Error).message}`, err);
      }
    },
  });
}
