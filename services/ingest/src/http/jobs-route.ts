import { egressResolver } from "../egress/load-policy.js";
import { localJob, LocalJobRequest } from "../providers/local/job.js";
import { bearerToken, safeEqual } from "./auth.js";
import { withinDeadline } from "./deadline.js";
import { HttpError, header } from "./http-error.js";
import { DELIVERY_ID, bodyText, firstIssue, parseJsonBody, type Route, type RouteDeps } from "./route.js";

/**
 * `POST /v1/jobs`: an ad-hoc job from the CLI, bearer-authenticated →
 * 202 `{jobId}` once its JobQueued (carrying the script) is stored.
 * The correlation id is the caller's `X-Request-Id`, or a new one.
 */
export function jobsRoute(d: RouteDeps): Route {
  const c = d.config;
  const egress = egressResolver(c.INGEST_EGRESS_POLICY_FILE);
  const limits = { arch: c.INGEST_DEFAULT_ARCH, maxVcpus: c.INGEST_MAX_VCPUS, maxMemGiB: c.INGEST_MAX_MEM_GIB, ...(egress ? { egress } : {}) };
  return async (req, readBody) => {
    if (!c.ONESHOT_API_TOKEN) throw new HttpError(503, "the job API is not configured (ONESHOT_API_TOKEN)");
    const token = bearerToken(header(req.headers, "authorization"));
    if (token === undefined || !safeEqual(token, c.ONESHOT_API_TOKEN)) {
      d.metrics.verifyFailures.inc({ provider: "local" });
      throw new HttpError(401, "bad or missing bearer token");
    }
    const parsed = LocalJobRequest.safeParse(parseJsonBody(bodyText(await readBody()), req.headers["content-type"]));
    if (!parsed.success) throw new HttpError(400, firstIssue(parsed.error.issues));
    const jobId = `loc-${d.newId().replace(/-/g, "")}`;
    const job = localJob(jobId, parsed.data, limits);
    if (!job.ok) throw new HttpError(400, job.reason);
    const requestId = header(req.headers, "x-request-id");
    const correlationId = requestId && DELIVERY_ID.test(requestId) ? requestId : d.newId();

    const end = d.metrics.storeSeconds.startTimer({ route: "jobs" });
    // A fresh id, so the subject must be empty: the msgId makes a retried append a no-op.
    await withinDeadline(c.INGEST_STORE_TIMEOUT_MS, () =>
      d.store.append(job.event, { msgId: `loc:${jobId}`, expectedLastSubjectSeq: 0, correlationId, timeoutMs: c.INGEST_STORE_TIMEOUT_MS }),
    ).finally(end);
    d.metrics.decisions.inc({ provider: "local", result: "JobQueued" });
    d.log.info({ jobId, correlationId }, "local job queued");
    return { status: 202, body: { jobId } };
  };
}
