import { hasLabels } from "./host-labels.js";
import { describe, fitsIn } from "./resources.js";
import type { HostView, JobView } from "./state.js";

/**
 * Why no registered host could ever run this job, or undefined when one could (now or once
 * capacity frees). Only hosts that have the job's root image count (docs/runner-model.md,
 * rule 6). Cordoned, draining and lost hosts count: they may come back; deregistered
 * ones do not. With no host registered at all the job waits: a fleet that is still starting
 * is not a reason to give up on every job.
 */
export function neverFits(job: JobView, hosts: Iterable<HostView>): string | undefined {
  const { arch, vcpus, memMiB, diskGiB, image } = job.spec;
  let any = false;
  let ofArch = false;
  let imaged = false;
  let labelled = false;
  for (const h of hosts) {
    if (h.deregistered) continue;
    any = true;
    if (h.arch !== arch) continue;
    ofArch = true;
    if (!h.images.includes(image)) continue;
    imaged = true;
    if (!hasLabels(h.labels, job.requiredLabels)) continue;
    labelled = true;
    if (fitsIn({ vcpus, memMiB, diskGiB }, h.capacity)) return undefined;
  }
  if (!any) return undefined;
  const labels = job.requiredLabels.length ? ` with labels [${job.requiredLabels.join(", ")}]` : "";
  if (!ofArch) return `no ${arch} host is registered`;
  if (!imaged) return `no ${arch} host has image "${image}"`;
  if (!labelled) return `no ${arch} host${labels} is registered`;
  return `no ${arch} host${labels} can hold ${describe({ vcpus, memMiB, diskGiB })}, even empty`;
}

/** The same answer for every job of one shape: computed once per shape within a decision. */
export function feasibilityCache(hosts: HostView[]): (job: JobView) => string | undefined {
  const cache = new Map<string, string | undefined>();
  return (job) => {
    const { arch, vcpus, memMiB, diskGiB, image } = job.spec;
    const key = `${arch}|${vcpus}|${memMiB}|${diskGiB}|${image}|${job.requiredLabels.join(",")}`;
    if (cache.has(key)) return cache.get(key);
    const why = neverFits(job, hosts);
    cache.set(key, why);
    return why;
  };
}
