import { ALL_EGRESS_SETS, OPEN_EGRESS, vmEgressProblem } from "./egress-sets.js";
import { cidrRangesOf } from "./ipv4.js";
import {
  TOTAL_FROM_VMS,
  TOTAL_TO_VMS,
  VM_COMMENT,
  baseChains,
  baseMarker,
  rulesOfVm,
  tableName,
  vmRuleCount,
  type BaseRulesInput,
  type Ruleset,
  type VmIsolation,
} from "./nft-rules.js";

export interface IsolationProblems {
  /** What is wrong with the base tables (empty: intact). Any entry means a rebuild. */
  base: string[];
  /** VMs whose tagged rules are missing or partial. */
  vms: { vmId: string; found: number; want: number; egress?: string }[];
}

/**
 * What differs between the live ruleset and what isolation needs (pure): both base tables
 * with this input's marker, every base chain with its hook, policy and exactly its own rules
 * (VM-tagged rules aside), the forbidden set with exactly the wanted addresses (compared as
 * merged ranges: nft merges neighbours), the shared limits, and each VM's full rule set.
 * Catches a flushed ruleset, a deleted table, chain, rule or set element, an added rule, a
 * changed policy, a VM's egress membership (mode set, CIDRs) lost or wrong; not a rule rewritten in place with the same count (the marker cannot see
 * inside rules — `nft replace rule` on a base chain needs root and intent).
 */
export function isolationProblems(rs: Ruleset, input: BaseRulesInput, vms: VmIsolation[]): IsolationProblems {
  const t = tableName(input.bridge);
  const marker = baseMarker(input);
  const base: string[] = [];
  for (const family of ["bridge", "inet"]) {
    const table = rs.tables.find((x) => x.family === family && x.name === t);
    if (!table) base.push(`table ${family} ${t} missing`);
    else if (table.marker !== marker) base.push(`table ${family} ${t} has marker ${table.marker ?? "none"}, not ${marker}`);
  }
  if (!base.length) {
    for (const c of baseChains(input)) {
      const live = rs.chains.find((x) => x.family === c.family && x.table === t && x.name === c.name);
      const hook = /hook (\w+)/.exec(c.head)?.[1];
      if (!live) base.push(`chain ${c.family} ${c.name} missing`);
      else if (live.hook !== hook || (hook && live.policy !== "accept"))
        base.push(`chain ${c.family} ${c.name} has hook ${live.hook ?? "none"} policy ${live.policy ?? "none"}`);
      const own = rs.rules.filter((r) => r.family === c.family && r.table === t && r.chain === c.name && !(r.comment && VM_COMMENT.test(r.comment)));
      if (own.length !== c.rules.length) base.push(`chain ${c.family} ${c.name} has ${own.length} base rules, not ${c.rules.length}`);
    }
    const set = rs.sets.find((s) => s.family === "inet" && s.table === t && s.name === "forbidden");
    const want = JSON.stringify(cidrRangesOf(input.forbidden));
    if (!set) base.push("set forbidden missing");
    else if (JSON.stringify(set.ranges) !== want) base.push("set forbidden differs from the host's forbidden networks");
    for (const name of ALL_EGRESS_SETS) if (!rs.elements.some((x) => x.family === "inet" && x.table === t && x.name === name)) base.push(`set ${name} missing`);
    if (input.totalBytesPerSec) {
      for (const n of [TOTAL_FROM_VMS, TOTAL_TO_VMS]) if (!rs.limits.includes(`bridge/${t}/${n}`)) base.push(`limit ${n} missing`);
    }
  }
  const want = vmRuleCount(!!input.totalBytesPerSec);
  const bad = vms
    .map((v) => {
      const egress = vmEgressProblem(rs.elements, t, v.net.address, v.egress ?? OPEN_EGRESS);
      return {
        vmId: v.vmId,
        found: rulesOfVm(
          rs.rules.filter((r) => r.table === t),
          v.vmId,
        ).length,
        want,
        ...(egress ? { egress } : {}),
      };
    })
    .filter((v) => v.found !== v.want || v.egress);
  return { base, vms: bad };
}
