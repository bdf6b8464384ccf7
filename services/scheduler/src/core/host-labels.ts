/**
 * Which host labels a job needs. Both providers match a runner only when it carries every
 * label (GitHub `runs-on`) or tag (GitLab) the job lists, so the scheduler applies the same
 * rule to hosts, minus the labels that only say "oneshot should run this, this size, this
 * arch" or that every GitHub runner has anyway: those are ingest's business, already in the
 * job's spec.
 */
const implicit = new Set(["self-hosted", "linux", "x64", "x86_64", "amd64", "arm64", "aarch64", "oneshot"]);
const sizeLabel = /^oneshot-(?:(?:amd64|arm64)-)?\d+cpu-\d+gb$|^oneshot-(?:amd64|arm64)$/;

export function requiredLabels(jobLabels: readonly string[]): string[] {
  const out = new Set<string>();
  for (const raw of jobLabels) {
    const l = raw.trim().toLowerCase();
    if (l && !implicit.has(l) && !sizeLabel.test(l)) out.add(l);
  }
  return [...out].sort();
}

export const normaliseHostLabels = (labels: readonly string[]): string[] => [...new Set(labels.map((l) => l.trim().toLowerCase()).filter(Boolean))].sort();

/** Both lists sorted (as stored in state). */
export function hasLabels(hostLabels: readonly string[], wanted: readonly string[]): boolean {
  if (wanted.length === 0) return true;
  let i = 0;
  for (const w of wanted) {
    while (i < hostLabels.length && hostLabels[i]! < w) i++;
    if (hostLabels[i] !== w) return false;
  }
  return true;
}
