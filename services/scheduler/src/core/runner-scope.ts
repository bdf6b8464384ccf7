import type { JobSource } from "@oneshot/proto";
import { hasLabels } from "./host-labels.js";
import { fitsIn } from "./resources.js";
import type { Allocation, JobView } from "./state.js";

/**
 * Which runners can be handed a job at all: GitHub gives an org's jobs to the org's runners
 * (a user's repos get repo-level runners, see the broker), GitLab a project's to the runners
 * created in it. A VM's runner was minted in the scope of the job it was booted for.
 */
export function runnerScope(source: JobSource): string {
  switch (source.provider) {
    case "github":
      return source.ownerType === "User" ? `github:repo:${source.repo}` : `github:org:${source.org}`;
    case "gitlab":
      return `gitlab:${source.projectId ?? source.repo}`;
    case "local":
      return "local";
    default: {
      const _never: never = source.provider;
      return _never;
    }
  }
}

/**
 * The VM's runner could take the job: same scope, its labels carry every label the job asks
 * for (the provider's own rule), and — since the VM is already built — its arch, image and
 * size hold the job. A local VM runs its own script only, so it covers nothing.
 */
export function covers(a: Allocation, job: JobView): boolean {
  if (!a.runner || a.bound || job.local) return false;
  return (
    a.runner.scope === job.scope && a.arch === job.spec.arch && a.image === job.spec.image && hasLabels(a.runner.labels, job.labels) && fitsIn(job.spec, a.res)
  );
}
