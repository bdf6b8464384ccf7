import type { EgressPolicy, VmEgressDenied } from "@oneshot/proto";

const MAX_SHOWN = 6;

/** ` egress allow[github.com,…] (rule:x)` for a job's non-open policy; empty for open (the default). */
export function egressNote(p: EgressPolicy | undefined): string {
  if (!p || (p.mode === "open" && p.source === "default")) return "";
  const list = p.allow.length > MAX_SHOWN ? [...p.allow.slice(0, MAX_SHOWN), `+${p.allow.length - MAX_SHOWN}`] : p.allow;
  return ` egress ${p.mode}${list.length ? `[${list.join(",")}]` : ""} (${p.source})`;
}

/** One line for VmEgressDenied: what was dropped (or, in audit mode, let through), per destination and name. */
export function egressDeniedLine(d: VmEgressDenied["data"]): string {
  const dest = d.destinations.slice(0, MAX_SHOWN).map((x) => {
    const names = x.names.length ? ` (${x.names.join(",")})` : "";
    const why = x.reason === "not-allowed" ? "" : ` ${x.reason}`;
    return `${x.action} ${x.address}:${x.port}/${x.protocol}${why} ×${x.count}${names}`;
  });
  const moreDest = d.destinations.length - dest.length + d.droppedDestinations;
  const q = d.queries.slice(0, MAX_SHOWN).map((x) => `${x.action === "refused" ? "refused" : "resolved"} ${x.name} ×${x.count}`);
  const moreQ = d.queries.length - q.length + d.droppedQueries;
  const parts = [...dest, ...(moreDest ? [`+${moreDest} destinations`] : []), ...q, ...(moreQ ? [`+${moreQ} names`] : [])];
  return `${d.vmId} egress ${d.mode} (${d.source}): ${parts.join("; ") || "nothing"}`;
}
