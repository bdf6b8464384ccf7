import { run, type Exec } from "../host/exec.js";
import {
  ALL_EGRESS_SETS,
  EGRESS_SETS,
  MEMBERSHIP_SETS,
  OPEN_EGRESS,
  allowResolvedScript,
  parseSetElement,
  purgeScript,
  vmEgressProblem,
  type SetElement,
} from "./egress-sets.js";
import {
  VM_COMMENT,
  baseRulesScript,
  deleteRulesScript,
  parseRuleset,
  rulesOfVm,
  tableName,
  vmRuleCount,
  vmRulesScript,
  type BaseRulesInput,
  type NftRuleRef,
  type Ruleset,
  type VmIsolation,
} from "./nft-rules.js";
import { isolationProblems, type IsolationProblems } from "./ruleset-check.js";

export interface EnsureReport {
  base: "unchanged" | "rebuilt";
  /** VMs whose rules were put back (alone, or with the rebuilt base). */
  vms: string[];
  /** What was wrong before acting (for the log line). */
  problems: IsolationProblems;
}

/** nftables through the `nft` binary: every change is one atomic `nft -f -` transaction. */
export class Nft {
  constructor(private readonly exec: Exec) {}

  async ruleset(): Promise<Ruleset> {
    return parseRuleset(await run(this.exec, "nft", ["-j", "list", "ruleset"]));
  }

  private apply(script: string): Promise<string> {
    return run(this.exec, "nft", ["-f", "-"], { input: script });
  }

  /**
   * Measure: the base tables are intact (ruleset-check.ts) and every VM in `vms` has its
   * rules. Act: a damaged base is rebuilt in one transaction together with all of `vms`'
   * rules; otherwise only the VMs missing rules get them back.
   */
  async ensureAll(input: BaseRulesInput, vms: VmIsolation[] = []): Promise<EnsureReport> {
    const rs = await this.ruleset();
    const problems = isolationProblems(rs, input, vms);
    const t = tableName(input.bridge);
    if (problems.base.length) {
      const present = {
        bridge: rs.tables.some((x) => x.family === "bridge" && x.name === t),
        inet: rs.tables.some((x) => x.family === "inet" && x.name === t),
      };
      await this.apply(baseRulesScript(input, present, vms));
      return { base: "rebuilt", vms: vms.map((v) => v.vmId), problems };
    }
    if (problems.vms.length) {
      const fix = vms.filter((v) => problems.vms.some((p) => p.vmId === v.vmId));
      const stale = fix.flatMap((v) => rulesOfVm(rs.rules, v.vmId));
      // Membership only: what the DNS proxy resolved (`allowed`) and the denied counters stay.
      const purge = fix.map((v) => purgeScript(t, rs.elements, v.net.address, MEMBERSHIP_SETS)).join("");
      await this.apply(
        (stale.length ? deleteRulesScript(stale) : "") + purge + fix.map((v) => vmRulesScript(input.bridge, v, !!input.totalBytesPerSec)).join(""),
      );
    }
    return { base: "unchanged", vms: problems.vms.map((p) => p.vmId), problems };
  }

  /** What is wrong now (empty lists: isolation is intact), without changing anything. */
  async problems(input: BaseRulesInput, vms: VmIsolation[] = []): Promise<IsolationProblems> {
    return isolationProblems(await this.ruleset(), input, vms);
  }

  /** The base tables only (start-up, before any VM). */
  async ensureBase(input: BaseRulesInput): Promise<"unchanged" | "rebuilt"> {
    return (await this.ensureAll(input, [])).base;
  }

  /** Removes both base tables of a bridge (a test's teardown; hostd keeps them). */
  async removeBase(bridge: string): Promise<void> {
    const t = tableName(bridge);
    const { tables } = await this.ruleset();
    const script = tables.filter((x) => x.name === t && (x.family === "bridge" || x.family === "inet")).map((x) => `delete table ${x.family} ${t}`);
    if (script.length) await this.apply(script.join("\n") + "\n");
  }

  /**
   * Measure: all of the VM's rules are there. Act: drop a partial set, add the whole set.
   * `shared`: the base has a total rate (BaseRulesInput.totalBytesPerSec), so the VM's
   * rules use its shared limits too.
   */
  async ensureVmRules(bridge: string, vm: VmIsolation, shared: boolean): Promise<"present" | "added"> {
    const t = tableName(bridge);
    const rs = await this.ruleset();
    const mine = rulesOfVm(
      rs.rules.filter((r) => r.table === t),
      vm.vmId,
    );
    const egress = vmEgressProblem(rs.elements, t, vm.net.address, vm.egress ?? OPEN_EGRESS);
    if (mine.length === vmRuleCount(shared) && !egress) return "present";
    // A VM on a reused address inherits nothing of the last one's: every egress element keyed by it goes.
    await this.apply(
      (mine.length ? deleteRulesScript(mine) : "") + purgeScript(t, rs.elements, vm.net.address, ALL_EGRESS_SETS) + vmRulesScript(bridge, vm, shared),
    );
    return "added";
  }

  /** Adds what the DNS proxy resolved for an allowed name to the VM's allow set, each with its timeout. */
  async allowResolved(bridge: string, vmAddress: string, entries: { address: string; timeoutSec: number }[]): Promise<void> {
    const script = allowResolvedScript(tableName(bridge), vmAddress, entries);
    if (script) await this.apply(script);
  }

  /** The denied set's elements (`vm . address . proto . port` with counters): what VmEgressDenied reports. */
  async deniedElements(bridge: string): Promise<SetElement[]> {
    const json = await run(this.exec, "nft", ["-j", "list", "set", "inet", tableName(bridge), EGRESS_SETS.denied]);
    const doc = JSON.parse(json) as { nftables?: { set?: { elem?: unknown[] } }[] };
    return doc.nftables?.flatMap((x) => (x.set?.elem ?? []).map(parseSetElement)) ?? [];
  }

  /** Removes every rule tagged `oneshot:<vmId>`, in whichever table; returns how many. Idempotent. */
  async removeVmRules(vmId: string): Promise<number> {
    const rs = await this.ruleset();
    const mine = rulesOfVm(rs.rules, vmId);
    // Its egress elements go with it (found by the address its vm_src rule names).
    const purge = [...new Set(mine.flatMap((r) => (r.saddr && r.chain === "vm_src" ? [`${r.table}\0${r.saddr}`] : [])))]
      .map((k) => k.split("\0") as [string, string])
      .map(([table, address]) => purgeScript(table, rs.elements, address, ALL_EGRESS_SETS))
      .join("");
    if (mine.length) await this.apply(deleteRulesScript(mine) + purge);
    return mine.length;
  }

  /** `oneshot:<vmId>` comments found in this bridge's tables (inventory). */
  async vmComments(bridge: string): Promise<string[]> {
    const t = tableName(bridge);
    const found = new Set<string>();
    for (const r of (await this.ruleset()).rules) if (r.table === t && r.comment && VM_COMMENT.test(r.comment)) found.add(r.comment);
    return [...found].sort();
  }
}

export type { NftRuleRef, VmIsolation };
