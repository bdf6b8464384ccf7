import type { KV } from "@nats-io/kv";
import { streams, subjects } from "@oneshot/proto";
import { runDurableConsumer, type Logger, type Nats } from "@oneshot/runtime";

/**
 * GitLab runners are created one per job; this deletes each when its job ends. The job → runner
 * id map lives in a KV bucket (ids are not secrets), so a restart of ingest forgets nothing.
 * One durable consumer: with several ingest replicas, each end is handled once.
 */
export async function startGitlabCleanup(o: { nats: Nats; kv: KV; log: Logger; deleteRunner: (id: number) => Promise<void> }) {
  return runDurableConsumer(o.nats, {
    stream: streams.events.name,
    durable: "ingest-gitlab-cleanup",
    filterSubject: subjects.allJobs,
    log: o.log,
    handler: async (e) => {
      if (e.type !== "JobCompleted" && e.type !== "JobCancelled" && e.type !== "JobFailed") return;
      if (!e.data.jobId.startsWith("gl-")) return;
      const entry = await o.kv.get(e.data.jobId);
      if (!entry || entry.length === 0) return;
      const runnerId = Number(entry.string());
      await o.deleteRunner(runnerId).catch((err: Error) => {
        if (!/404/.test(err.message)) throw err; // already gone is fine; anything else is retried
      });
      await o.kv.delete(e.data.jobId);
      o.log.info({ jobId: e.data.jobId, runnerId }, "GitLab runner deleted");
    },
  });
}
