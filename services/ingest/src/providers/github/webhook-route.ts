import { Webhooks } from "@octokit/webhooks";
import { decideGithub, githubJobId, githubSource } from "./decide.js";
import { parseLabels } from "../shared/labels.js";
import { WorkflowJobPayload } from "./payload.js";
import { decideAndStore } from "../../job-store.js";
import { withinDeadline } from "../../http/deadline.js";
import { HttpError, header } from "../../http/http-error.js";
import { DELIVERY_ID, bodyText, firstIssue, jobDefaults, parseJsonBody, type Route, type RouteDeps } from "../../http/route.js";

/**
 * `POST /webhooks/github`: a GitHub App delivery. Headers first (400/401 without reading the
 * body), then the body up to the cap (413), the signature over its exact bytes with the current
 * or the previous secret (401), then JSON (415/400). `workflow_job` deliveries are decided from
 * the job's own history and stored before the 202; `ping` gets 200; other events 202, stored nowhere.
 */
export function githubRoute(d: RouteDeps): Route {
  const c = d.config;
  const verifiers = [c.GITHUB_WEBHOOK_SECRET, c.GITHUB_WEBHOOK_SECRET_PREVIOUS]
    .filter((s): s is string => Boolean(s))
    .map((secret) => new Webhooks({ secret }));
  const defaults = jobDefaults(c);
  const refuse = (message: string): never => {
    d.metrics.verifyFailures.inc({ provider: "github" });
    throw new HttpError(401, message);
  };

  return async (req, readBody) => {
    if (verifiers.length === 0) throw new HttpError(503, "GitHub webhooks are not configured (GITHUB_WEBHOOK_SECRET)");
    const event = header(req.headers, "x-github-event");
    const delivery = header(req.headers, "x-github-delivery");
    const signature = header(req.headers, "x-hub-signature-256");
    if (!event || !delivery) throw new HttpError(400, "missing X-GitHub-Event or X-GitHub-Delivery");
    if (!DELIVERY_ID.test(delivery)) throw new HttpError(400, "X-GitHub-Delivery is not a delivery id");
    if (!signature) refuse("missing X-Hub-Signature-256");

    const text = bodyText(await readBody());
    const matches = await Promise.all(verifiers.map((w) => w.verify(text, signature!).catch(() => false)));
    if (!matches.some(Boolean)) refuse("signature does not match");
    const json = parseJsonBody(text, req.headers["content-type"]);

    if (event === "ping") return { status: 200, body: { ok: true, note: "pong" } };
    if (event !== "workflow_job") return { status: 202, body: { ok: true, note: `event ${event.slice(0, 64)} is not used` } };
    const parsed = WorkflowJobPayload.safeParse(json);
    if (!parsed.success) throw new HttpError(400, `not a workflow_job payload: ${firstIssue(parsed.error.issues)}`);
    const payload = parsed.data;
    const jobId = githubJobId(payload);
    const labels = parseLabels(payload.workflow_job.labels, defaults);
    if (!labels.ok && !labels.ours && !c.INGEST_RECORD_FOREIGN_JOBS) {
      d.metrics.foreignDeliveries.inc({ provider: "github" });
      const s = githubSource(payload);
      await d.foreign?.note(jobId, {
        provider: "github",
        org: s.org,
        repo: s.repo,
        labels: s.labels,
        reason: labels.reason,
        action: payload.action,
        at: new Date().toISOString(),
      });
      return { status: 202, body: { ok: true, jobId, note: `not ours: ${labels.reason} (counted, not stored)` } };
    }

    const end = d.metrics.storeSeconds.startTimer({ route: "github" });
    const out = await withinDeadline(c.INGEST_STORE_TIMEOUT_MS, () =>
      decideAndStore(d.store, jobId, (h) => decideGithub(payload, h, defaults), {
        msgId: `gh:${delivery}`,
        correlationId: delivery,
        timeoutMs: c.INGEST_STORE_TIMEOUT_MS,
      }),
    ).finally(end);
    d.metrics.decisions.inc({ provider: "github", result: out.type ?? "none" });
    d.log.info({ jobId, delivery, action: payload.action, note: out.note, seq: out.seq }, "github delivery");
    return { status: 202, body: { ok: true, jobId, ...out } };
  };
}
