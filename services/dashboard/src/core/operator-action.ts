import type { DomainEvent } from "@oneshot/proto";
import { FINISHED, type DashboardState } from "./dashboard-state.js";

/** What a signed-in operator may ask for: the CLI's `hosts cordon|uncordon|drain`, and cancelling a job. */
export type OperatorAction = { kind: "cordon" | "uncordon" | "drain"; hostId: string } | { kind: "cancel"; jobId: string };

export type Decision = { ok: true; event: DomainEvent; correlationId: string | undefined } | { ok: false; status: 404 | 409; reason: string };

/**
 * `decide(action, state) → event`: the one event the action appends, or why not. Refusals are
 * answers (404 unknown, 409 nothing to do), never exceptions. A cancel carries the job's own
 * correlation id, so it shows in the job's timeline with everything else it did.
 */
export function decideAction(s: DashboardState, a: OperatorAction): Decision {
  switch (a.kind) {
    case "cordon":
    case "uncordon":
    case "drain": {
      const h = s.fleet.hosts.get(a.hostId);
      if (!h) return { ok: false, status: 404, reason: `no host ${a.hostId}` };
      if (h.status === "deregistered" || h.status === "lost") return { ok: false, status: 409, reason: `host ${a.hostId} is ${h.status}` };
      if (a.kind === "cordon" && h.status !== "ready") return { ok: false, status: 409, reason: `host ${a.hostId} is already ${h.status}` };
      if (a.kind === "uncordon" && h.status === "ready") return { ok: false, status: 409, reason: `host ${a.hostId} is not cordoned` };
      if (a.kind === "drain" && h.status === "draining") return { ok: false, status: 409, reason: `host ${a.hostId} is already draining` };
      const type = a.kind === "cordon" ? "HostCordoned" : a.kind === "uncordon" ? "HostUncordoned" : "HostDrained";
      return { ok: true, event: { type, data: { hostId: a.hostId, reason: `${a.kind} from the dashboard` } } as DomainEvent, correlationId: undefined };
    }
    case "cancel": {
      const j = s.fleet.jobs.get(a.jobId);
      if (!j) return { ok: false, status: 404, reason: `no job ${a.jobId}` };
      if (FINISHED.has(j.state)) return { ok: false, status: 409, reason: `job ${a.jobId} is already ${j.state}` };
      return {
        ok: true,
        event: { type: "JobCancelled", data: { jobId: a.jobId, reason: "cancelled from the dashboard" } },
        correlationId: s.correlationOf.get(a.jobId),
      };
    }
    default: {
      const never: never = a;
      return never;
    }
  }
}
