import { parseRunnerName } from "@oneshot/proto";
import { decideGitlab, gitlabJobId, gitlabNeedsTags } from "./decide.js";
import { GitlabJobPayload, type GitlabTags } from "./payload.js";
import { decideAndStore } from "../../job-store.js";
import { emptyHistory } from "../shared/job-history.js";
import { safeEqual } from "../../http/auth.js";
import { withinDeadline } from "../../http/deadline.js";
import { HttpError, header } from "../../http/http-error.js";
import { DELIVERY_ID, bodyText, firstIssue, jobDefaults, parseJsonBody, type Route, type RouteDeps } from "../../http/route.js";

/**
 * `POST /webhooks/gitlab`: a project or group Job Hook. A 4xx can disable a GitLab hook for
 * good, so only a wrong token (401), a body over the cap (413) or a malformed Job Hook (400/415)
 * get one; every authentic delivery that is not for us gets 202. Deduplicated on
 * `Idempotency-Key` (stable across GitLab's retries), which is also the correlation id.
 */
export function gitlabRoute(
  d: RouteDeps,
  jobTags: (projectId: number, jobId: number) => Promise<GitlabTags>,
  /** Deletes a runner of ours that has picked its job (its token dies; the job runs on with its job token). */
  deleteRunner?: (runnerId: number) => Promise<void>,
): Route {
  const c = d.config;
  const defaults = jobDefaults(c);
  return async (req, readBody) => {
    if (!c.GITLAB_WEBHOOK_TOKEN) throw new HttpError(503, "GitLab hooks are not configured (GITLAB_WEBHOOK_TOKEN)");
    const token = header(req.headers, "x-gitlab-token");
    if (token === undefined || !safeEqual(token, c.GITLAB_WEBHOOK_TOKEN)) {
      d.metrics.verifyFailures.inc({ provider: "gitlab" });
      throw new HttpError(401, "X-Gitlab-Token does not match");
    }
    const text = bodyText(await readBody());
    const event = header(req.headers, "x-gitlab-event");
    if (event !== "Job Hook") return { status: 202, body: { ok: true, note: `event ${String(event).slice(0, 64)} is not used` } };
    const parsed = GitlabJobPayload.safeParse(parseJsonBody(text, req.headers["content-type"]));
    if (!parsed.success) throw new HttpError(400, `not a Job Hook payload: ${firstIssue(parsed.error.issues)}`);
    const payload = parsed.data;
    const presented = header(req.headers, "idempotency-key");
    // Older GitLab sends no key: the job and its status identify the delivery well enough.
    const key = presented && DELIVERY_ID.test(presented) ? presented : `${payload.build_id}-${payload.build_status}`;
    const jobId = gitlabJobId(payload);

    let tags: Promise<GitlabTags> | undefined;
    const tagsOnce = () =>
      (tags ??= jobTags(payload.project_id, payload.build_id).catch((e: unknown) => {
        tags = undefined; // a failed fetch is tried again on the next attempt
        throw e;
      }));
    const end = d.metrics.storeSeconds.startTimer({ route: "gitlab" });
    const out = await withinDeadline(c.INGEST_STORE_TIMEOUT_MS, () =>
      decideAndStore(d.store, jobId, async (h) => decideGitlab(payload, gitlabNeedsTags(payload, h) ? await tagsOnce() : undefined, h, defaults), {
        msgId: `gl:${key}`,
        correlationId: key,
        timeoutMs: c.INGEST_STORE_TIMEOUT_MS,
        // Deciding a new job fetches its tags: read its history first rather than guess.
        guessNew: !gitlabNeedsTags(payload, emptyHistory()),
      }),
    ).finally(end);
    d.metrics.decisions.inc({ provider: "gitlab", result: out.type ?? "none" });
    d.log.info({ jobId, idempotencyKey: key, status: payload.build_status, note: out.note, seq: out.seq }, "gitlab delivery");
    // One of our runners took a job: delete it now. It takes no second job (--max-builds 1),
    // and its token, which any code in the VM may have read, stops working: the window is
    // pickup → this hook (GitLab sends it at once; the job's end deletes it again if this fails).
    const runnerId = payload.runner?.id;
    if (deleteRunner && payload.build_status === "running" && typeof runnerId === "number" && parseRunnerName(payload.runner?.description)) {
      void deleteRunner(runnerId).then(
        () => d.log.info({ jobId, runnerId }, "GitLab runner deleted at pickup"),
        (e: unknown) => d.log.warn({ jobId, runnerId, err: e }, "cannot delete the GitLab runner at pickup: deleted when the job ends"),
      );
    }
    return { status: 202, body: { ok: true, jobId, ...out } };
  };
}
